// BTF-typed (tp_btf) CO-RE programs that count NUMA-relevant scheduler and memory events per
// cgroup in a per-CPU LRU hash. The key is the cgroup v2 id, or on a cgroup-v1 host the v1 memory
// cgroup's id (the inode of its directory): bpf_get_current_cgroup_id() is 1 for every task there.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "numa_events.h"

char LICENSE[] SEC("license") = "GPL";

// Set by the loader before load.
const volatile bool key_by_v1_memory_cgroup = false;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, NUMA_EVENTS_MAX_CPUS);
  __type(key, __u32);
  __type(value, __s32);  // node + 1; 0 = unknown
} cpu_node SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
  __uint(max_entries, NUMA_EVENTS_MAX_CGROUPS);
  __type(key, __u64);
  __type(value, struct numa_event_counts);
} counts SEC(".maps");

// Kernels where the CPU field lives in task_struct itself (THREAD_INFO_IN_TASK without it in
// thread_info).
struct task_struct___cpu_in_task {
  unsigned int cpu;
} __attribute__((preserve_access_index));

static __always_inline __s32 task_cpu_of(struct task_struct *p) {
  if (bpf_core_field_exists(p->thread_info.cpu)) return BPF_CORE_READ(p, thread_info.cpu);
  struct task_struct___cpu_in_task *old = (void *)p;
  return BPF_CORE_READ(old, cpu);
}

static __always_inline __u64 cgroup_id_of(struct task_struct *p) {
  if (key_by_v1_memory_cgroup) {
    int memory = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
    return BPF_CORE_READ(p, cgroups, subsys[memory], cgroup, kn, id);
  }
  return BPF_CORE_READ(p, cgroups, dfl_cgrp, kn, id);
}

static __always_inline struct numa_event_counts *counts_of(struct task_struct *p) {
  __u64 id = cgroup_id_of(p);
  struct numa_event_counts *c = bpf_map_lookup_elem(&counts, &id);
  if (c) return c;
  struct numa_event_counts zero = {};
  bpf_map_update_elem(&counts, &id, &zero, BPF_NOEXIST);
  return bpf_map_lookup_elem(&counts, &id);
}

static __always_inline __s32 node_of(__s32 cpu) {
  __u32 key = cpu;
  __s32 *stored = bpf_map_lookup_elem(&cpu_node, &key);
  return stored ? *stored - 1 : -1;
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(on_sched_migrate_task, struct task_struct *p, int dest_cpu) {
  struct numa_event_counts *c = counts_of(p);
  if (!c) return 0;
  c->task_migrations++;
  // The tracepoint fires before the task's CPU changes: task_cpu(p) is the source.
  __s32 from = node_of(task_cpu_of(p));
  __s32 to = node_of(dest_cpu);
  if (from >= 0 && to >= 0 && from != to) c->cross_node_migrations++;
  return 0;
}

// Adds one to FIELD of TASK's cgroup.
#define COUNT(task, field)                                   \
  do {                                                       \
    struct numa_event_counts *counted = counts_of(task);     \
    if (counted) counted->field++;                           \
  } while (0)

SEC("tp_btf/sched_move_numa")
int BPF_PROG(on_sched_move_numa, struct task_struct *p) {
  COUNT(p, numa_moves);
  return 0;
}

SEC("tp_btf/sched_swap_numa")
int BPF_PROG(on_sched_swap_numa, struct task_struct *src, int src_cpu, struct task_struct *dst) {
  COUNT(src, numa_swaps);
  if (dst) COUNT(dst, numa_swaps);
  return 0;
}

SEC("tp_btf/sched_stick_numa")
int BPF_PROG(on_sched_stick_numa, struct task_struct *p) {
  COUNT(p, numa_sticks);
  return 0;
}

SEC("tp_btf/sched_skip_cpuset_numa")
int BPF_PROG(on_sched_skip_cpuset_numa, struct task_struct *p) {
  COUNT(p, numa_cpuset_skips);
  return 0;
}

// Counted for the task that asked for the migration (move_pages, the NUMA balancer's fault
// path, a cgroup write), which is the container whose pages move in every case that matters here.
SEC("tp_btf/mm_migrate_pages")
int BPF_PROG(on_mm_migrate_pages, unsigned long succeeded, unsigned long failed) {
  struct numa_event_counts *c = counts_of(bpf_get_current_task_btf());
  if (!c) return 0;
  c->pages_migrated += succeeded;
  c->pages_migration_failed += failed;
  return 0;
}
