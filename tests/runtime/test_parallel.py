"""runtime.parallel.map_jobs: results in job order, in-process or in worker processes."""

import operator

from brainlearn.runtime.parallel import map_jobs


def test_results_come_in_job_order():
    jobs = [(i, 10) for i in range(5)]
    assert list(map_jobs(operator.mul, jobs)) == [0, 10, 20, 30, 40]
    assert list(map_jobs(operator.mul, jobs, workers=2)) == [0, 10, 20, 30, 40]


def test_no_jobs():
    assert list(map_jobs(operator.mul, [], workers=2)) == []
