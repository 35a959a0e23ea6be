"""llama.cpp's OpenAI-compatible server (`python -m llama_cpp.server`, same options) with the AMX guard of
`selector.llamacpp`: on CPUs where llama.cpp's AMX buffers crash, the served model skips them too.

    python -m selector.llamacpp_server --model model.gguf --port 8080
"""

from __future__ import annotations

from .llamacpp import guard_amx


def main() -> None:
    guard_amx()
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
