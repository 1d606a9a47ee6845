"""The layer below the methods and the engine: what the data are, not how they are imputed.

- ``coding``: column kinds and their numeric codes (decoding back to the user's dtypes);
- ``levels``: the cluster hierarchy (nested or crossed identifiers, the level of a variable);
- ``matrix``: predictor-matrix codes -> each model's design columns; pruning of constant and
  collinear predictors.

It imports no method and nothing of the engine, so both can build on it.
"""
