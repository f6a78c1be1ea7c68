"""The reliability report: what the breakers, the DLQ, degradation and the sections other
apps register did over a period. Built by ``services.reliability_report_build``."""
