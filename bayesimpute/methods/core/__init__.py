"""What the method families share: priors, start values, matching, linear algebra,
stepping a chain a few transitions per visit, NUTS models compiled once per process, and
the NUTS GLMM base of the ordinal and count families. Knows no family.
"""
