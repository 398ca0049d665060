"""An MLPerf Inference submission tree from edgebench's runs, judged by MLCommons' own
tools: their verification scripts place the audit results, their truncation script
truncates the accuracy logs, their checker says whether it holds (`edgebench submission
--check`). edgebench writes the tree; it never checks it with rules of its own."""
