"""Studies that are not a network DAG: the estimator-validation grid
(:mod:`infoplane.studies.validation`) and the synthetic-images study
(:mod:`infoplane.studies.synthetic_images`), with the summaries they write as tables.

A study imports the library rooms (estimators, synthetic, compression, config); no library room
imports a study.
"""
