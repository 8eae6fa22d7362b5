import json

from bench.sparklog import phases, read_event_log, summarize_events, union_seconds

STDERR = """\
10:00:01 INFO read     format=parquet files=4 seconds=2.50
10:00:02 INFO validate schema=ok seconds=0.40
10:00:02 INFO select   scanning the input once
10:00:07 INFO select   input_rows=1000 selected_rows=10 seconds=5.00
10:00:08 INFO validate input_rows=1000 unique_ids=checked seconds=1.25
26/12/01 10:00:08 WARN SomeSparkClass: seconds=99 is not a phase
10:00:09 INFO write    rows=10 format=parquet seconds=0.75
10:00:09 INFO done     strategy=uncertainty input_rows=1000 selected_rows=10 seconds=9.90
"""


def test_phases_are_read_in_order_with_repeated_names_numbered():
    found, done = phases(STDERR)
    assert found == [("read", 2.5), ("validate", 0.4), ("select", 5.0),
                     ("validate#2", 1.25), ("write", 0.75)]  # fmt: skip
    assert done == 9.9


def test_a_job_that_died_has_no_done_seconds():
    found, done = phases("10:00:01 INFO read     files=4 seconds=2.50\nerror: boom\n")
    assert found == [("read", 2.5)] and done is None


def test_overlapping_jobs_count_once():
    assert union_seconds([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]) == 4.0
    assert union_seconds([(0.0, 10.0), (2.0, 3.0)]) == 10.0
    assert union_seconds([]) == 0.0


def events() -> list[str]:
    def job(i: int, start: float, end: float, site: str) -> list[dict]:
        return [
            {"Event": "SparkListenerJobStart", "Job ID": i, "Submission Time": start * 1000,
             "Stage Infos": [{"Stage Name": "x"}], "Properties": {"callSite.short": site}},
            {"Event": "SparkListenerJobEnd", "Job ID": i, "Completion Time": end * 1000},
        ]  # fmt: skip

    rows = [{"Event": "SparkListenerApplicationStart", "Timestamp": 0}]
    rows += job(0, 1.0, 2.0, "parquet at NativeMethodAccessorImpl.java:0")
    rows += job(1, 3.0, 7.5, "collect at /work/x/selection/job/checks.py:187")
    rows += [{"Event": "SparkListenerStageCompleted", "Stage Info": {"Number of Tasks": 4}}] * 2
    rows += [{"Event": "SparkListenerApplicationEnd", "Timestamp": 9000}]
    return [json.dumps(r) for r in rows] + ['{"Event": "SparkListenerJobSt']  # cut short


def test_the_event_log_gives_jobs_tasks_and_seconds_inside_jobs():
    s = summarize_events(events())
    assert (s["jobs"], s["stages"], s["tasks"]) == (2, 2, 8)
    assert s["in_jobs_seconds"] == 5.5
    assert s["app_seconds"] == 9.0
    assert s["job_list"][1] == ["collect at checks.py:187", 4.5]


def test_a_folder_without_a_log_gives_none(tmp_path):
    assert read_event_log(tmp_path) is None
    (tmp_path / "local-1").write_text("\n".join(events()))
    assert read_event_log(tmp_path)["jobs"] == 2
