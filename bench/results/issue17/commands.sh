#!/usr/bin/env bash
# Issue 15 graph work and issue 17 edits, measured one at a time on the 2-core machine (nothing else running),
# on the dev workspace: overlay graph ingest --wiki --exclude-titles ../shared/eval/exclude_dev.txt && overlay graph publish
set -euo pipefail
export OVERLAY_HOME=${OVERLAY_HOME:-/work/devws}
E=../shared/eval
R=bench/results/issue17
overlay eval edits $E/edits_counterfactual_dev.jsonl --details --json > $R/edits_counterfactual_dev.json
for i in 1 2 3; do overlay bench speed --n 20 --json > $R/speed_run$i.json; done  # medians in $R/summary.json
overlay eval edits $E/edits_dev.jsonl $E/edits_dev_varied.jsonl --sequential --scale 1000 --json > $R/edits_sequential_1000.json
# stop 26, after abandoned streams were cancelled and the default queue became 64:
.venv/bin/python bench/load.py --home "$OVERLAY_HOME" --out bench/results/load.json   # 32 clients, 300 s
.venv/bin/python bench/fuzz.py --examples 500 --out bench/results/fuzz.json          # every operation, stateful links
# stop 27 (lazy snapshot vocabulary, incremental delta lexicon), on the dev workspace republished (titles.json):
overlay eval edits $E/edits_dev.jsonl $E/edits_dev_varied.jsonl --sequential --scale 1000 --json > $R/edits_sequential_1000.json
for i in 1 2 3; do overlay bench speed --n 20 --json > $R/speed_run$i.json; done  # medians in $R/summary.json
# stop 28 (8ad25c4: passages missing a name asked open no answer), with each line's answers:
overlay eval edits $E/edits_dev.jsonl $E/edits_dev_varied.jsonl --sequential --scale 1000 --details --json > $R/edits_sequential_1000.json
# stop 29 (84d0566), with each line's answers:
overlay eval edits $E/edits_dev.jsonl $E/edits_dev_varied.jsonl --sequential --scale 1000 --details --json > $R/edits_sequential_1000.json
# stop 31 (e71cf8a bench: runs that end before their kill are repeated until 20 kills land), ingest, publish,
# fact and feedback completed (81 runs, 80 kills, 0 damaged; rows in crash_stop31_rows.log); the distillation
# part was stopped: it ran beside an eval, so its calibration run was slow and the runs ended before their kills
.venv/bin/python bench/crash.py --out /work/crash_new.json 2> $R/crash_stop31_rows.log
# stop 32 (843d427), alone on the machine: the distillation part (20 runs, 20 kills, 0 damaged; a 57 s job); merged
# with the stop-31 rows of the four other operations into bench/results/crash.json (100 kills, 0 damaged; its
# "sources" say which run made which rows)
.venv/bin/python bench/crash.py --ops distill --out /work/crash_distill.json
# stop 32 (35e5049), nothing else running: counterfactual (override 0.90, was 1.0 at e8de918) and sequential (same figures)
overlay eval edits $E/edits_counterfactual_dev.jsonl --details --json > $R/edits_counterfactual_dev.json
overlay eval edits $E/edits_dev.jsonl $E/edits_dev_varied.jsonl --sequential --scale 1000 --details --json > $R/edits_sequential_1000.json
# stop 32, 04a4e17 (reverted in ed3fb0b: facts within the 2k best retrieved, fact_copy 2): counterfactual override 1.0,
# paraphrase 1.0; sequential live efficacy 1.0, paraphrase 0.986, specificity 0.963 (after publish 1.0/0.986/1.0)
overlay eval edits $E/edits_counterfactual_dev.jsonl --details --json > $R/reverted_04a4e17/edits_counterfactual_dev.json
overlay eval edits $E/edits_dev.jsonl $E/edits_dev_varied.jsonl --sequential --scale 1000 --details --json > $R/reverted_04a4e17/edits_sequential_1000.json
# stop 33 (a user's fact on the question, `stated`: found within the 2k best, copied at fact_copy x rho), nothing else
# running: counterfactual override 1.0; sequential 1.0/0.986/1.0 live and after publish. A first try with
# FACT_REACH 0.5 lost 4 controls ("What is Khanate of Kazan?" answered from "Kazan Bormardru is a Peruvian
# bookbinder", 52% of the question): edits_sequential_1000_reach05.json
overlay eval edits $E/edits_counterfactual_dev.jsonl --details --json > $R/edits_counterfactual_dev.json
overlay eval edits $E/edits_dev.jsonl $E/edits_dev_varied.jsonl --sequential --scale 1000 --details --json > $R/edits_sequential_1000.json
# stop 33, after the whole-name check of `stated` ("Kazan Bormardru is..." is not about "What is Kazan?"): the same
# figures (counterfactual 1.0 all; sequential 1.0/0.986/1.0 live and after publish)
overlay eval edits $E/edits_counterfactual_dev.jsonl --details --json > $R/edits_counterfactual_dev.json
overlay eval edits $E/edits_dev.jsonl $E/edits_dev_varied.jsonl --sequential --scale 1000 --details --json > $R/edits_sequential_1000.json
# stop 36 (hits say `subject`, openings' subjects past an opening phrase), nothing else running: counterfactual 1.0 all
overlay eval edits $E/edits_counterfactual_dev.jsonl --details --json > $R/edits_counterfactual_dev.json
# stop 36, same code, nothing else running: sequential 1.0/0.986/1.0 live and after publish (110 controls), edit p50 0.28 s
overlay eval edits $E/edits_dev.jsonl $E/edits_dev_varied.jsonl --sequential --scale 1000 --details --json > $R/edits_sequential_1000.json
