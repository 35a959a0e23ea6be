#!/bin/sh
# Issue 15 measurements, one at a time on the 2-core machine (nothing else running), on the dev workspace
# built with: overlay graph ingest --wiki --exclude-titles ../shared/eval/exclude_dev.txt && overlay graph publish
export OVERLAY_HOME=/work/devws OVERLAY_MODEL_CACHE=/work/models
OUT=bench/results/issue15
for i in 1 2 3; do
  .venv/bin/overlay bench speed --n 20 --json > $OUT/speed_run$i.json
done
# the remote selector: llama-cpp-python's server on localhost, serving the bundled GGUF
#   python -m llama_cpp.server --model $(python -c 'from selector import find_gguf; print(find_gguf())') \
#     --port 8765 --n_threads 2 --n_ctx 4096
.venv/bin/overlay bench speed --n 5 --selector-url http://127.0.0.1:8765/v1 --json > $OUT/speed_remote.json
# stop 29 (99265b5), on the dev workspace republished (titles.json); medians in $OUT/speed_summary.json:
for i in 1 2 3; do .venv/bin/overlay bench speed --n 20 --json > $OUT/speed_run$i.json; done
# stop 30 (29c2092) on another machine (AMX: llama.cpp with extra buffer types off); medians in $OUT/speed_amx_summary.json:
for i in 1 2 3; do .venv/bin/overlay bench speed --n 20 --json > $OUT/speed_amx_run$i.json; done
# stop 33 (3e6f576), one run, nothing else running: ratio_words 2.26, vs prompt_lookup 2.40, vs llamacpp 0.62 (llama.cpp
# prefill 579 ms per answer; the overlay after its prefill ~115 words/s, 1.46x), graph 1.22 ms/step
.venv/bin/overlay bench speed --n 20 --json > $OUT/speed_s33_run1.json
# stop 35: the remote selector on llama.cpp's C++ llama-server, built from the llama-cpp-python 0.3.36 sdist
# (`make llama-server`, about 6 minutes on 2 cores), serving the bundled GGUF on localhost. Three runs one at a time, each on a
# fresh server with no prompt cache across runs (a second run on a warm server found every prompt cached: its
# prefill 51 ms, not comparable); medians and the three runs in bench/results/speed.json:
GGUF=$(.venv/bin/python -c 'from selector import find_gguf; print(find_gguf())')
for i in 1 2 3; do
  pkill -f llama-server; sleep 1
  .venv/llama.cpp/bin/llama-server -m $GGUF --host 127.0.0.1 --port 8766 -t 2 -c 4096 -np 1 --cache-ram 0 > /dev/null 2>&1 &
  sleep 8
  .venv/bin/overlay bench speed --n 20 --selector-url http://127.0.0.1:8766/v1 --json > $OUT/speed_remote_llama_server_run$i.json
done
# stop 35, the same on the final remote code (after the review: partial-character bias, OpenAI-format ids, errors),
# one run: remote 1.363x the in-process answer (29.6 against 40.4 words/s), 0.38 requests per step:
#   (loop above with i=4) -> $OUT/speed_remote_llama_server_run4.json
# stop 35: recall with the selector on llama.cpp in-process, beside the hf figures of bench/results/issue14/recall_dev_all.json:
.venv/bin/overlay eval recall ../shared/eval/recall_dev.jsonl --backend llamacpp --details --json > $OUT/recall_dev_llamacpp.json
