"""PyTorch's torch.distributed for jitgrad: data-parallel training over MPI (mpi4py).

Launch N processes with `mpiexec -n N python -m mpi4py script.py`; each calls init_process_group().
mpi4py is imported only by init_process_group, never by `import jitgrad`.
"""
from .collectives import (ReduceOp, Work, all_gather, all_reduce, barrier, broadcast, gather, reduce_scatter,
                          scatter)
from .world import (destroy_process_group, get_rank, get_world_size, init_process_group, is_available,
                    is_initialized, threads_per_rank)

__all__ = ["init_process_group", "destroy_process_group", "is_available", "is_initialized", "get_rank",
           "get_world_size", "threads_per_rank", "ReduceOp", "Work", "all_reduce", "broadcast", "all_gather",
           "reduce_scatter", "gather", "scatter", "barrier"]
