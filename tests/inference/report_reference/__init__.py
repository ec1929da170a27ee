"""The report's aggregation as it was before compact frames (commit a3bb743), frozen as the reference.

`occ report` now reads scored runs into compact frames (inference/insights/gaps.py); this copy of the previous
modules (string ids in pandas object columns, one read of the whole run) is what `test_report_parity.py` and
`bench/bench_report.py` compare it with: the same numbers, less memory. Only its imports were changed (to this
package) and the template folder pointed at the product's. Not product code; never imported by `occ`.
"""
