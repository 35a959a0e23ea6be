from overlay.cli import app

app(prog_name="overlay")
