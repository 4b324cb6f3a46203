// The per-cgroup counts the eBPF programs keep, shared by the BPF program and its loader.
#ifndef NUMA_EVENTS_H
#define NUMA_EVENTS_H

#define NUMA_EVENTS_MAX_CPUS 4096
#define NUMA_EVENTS_MAX_CGROUPS 16384

// Field order is the order the loader reports them in; add fields only at the end.
struct numa_event_counts {
  __u64 task_migrations;       // sched_migrate_task, any CPU to any CPU
  __u64 cross_node_migrations; // sched_migrate_task whose source and destination nodes differ
  __u64 numa_moves;            // sched_move_numa
  __u64 numa_swaps;            // sched_swap_numa (both tasks)
  __u64 numa_sticks;           // sched_stick_numa
  __u64 numa_cpuset_skips;     // sched_skip_cpuset_numa
  __u64 pages_migrated;        // mm_migrate_pages: succeeded
  __u64 pages_migration_failed;// mm_migrate_pages: failed
};

#endif
