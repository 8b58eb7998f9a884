"""Scale-out on Ray (``pip install 'searchgym[ray]'``).

* :mod:`searchgym.distributed.serve_ray` - the retrieval server as a Ray Serve deployment
  (same HTTP API as ``searchgym serve``, ``num_replicas`` replicas);
* :mod:`searchgym.distributed.vector_ray` - ``RaySearchQAVectorEnv``, a Gymnasium vector env
  whose sub-envs live in Ray actors.

Ray is imported only when these modules are used.
"""

__all__ = ["serve_ray", "vector_ray"]
