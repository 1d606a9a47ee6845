"""The run machinery behind :func:`bayesimpute.impute`, one concept per module.

- ``spec``: every argument checked before any sampling (:class:`~.spec.ImputationSpec`);
- ``sampler``: the FCS loop of one chain (:class:`~.sampler.ChainRunner`), which knows no
  particular model;
- ``inference``: the chains' traces laid out as ArviZ InferenceData;
- ``plausibility``: imputations far outside the observed range, flagged;
- ``run``: all chains of a run, assembled into a :class:`~.run.Run`, and continued;
- ``checkpoint``: a run saved after every iteration, and resumed;
- ``io``: a run written to netCDF and read back.

Column codes, cluster levels and design matrices live in the layer below,
:mod:`bayesimpute.design`, which the methods share. The facade (:mod:`bayesimpute.api`) and
the results (:mod:`bayesimpute.results`) call these modules; none of them imports the facade
or the results.
"""
