#include "perf_counters.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "errno_name.h"

namespace perf {
namespace {

std::atomic<size_t> openFds{0};
std::atomic<size_t> budget{0};

size_t defaultBudget() {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 4096;
  return limit.rlim_cur / 2;  // leave the other half to sockets, files and libuv
}

std::string hintFor(int err) {
  switch (err) {
    case ENOENT: return "this CPU or VM does not offer the event (no hardware PMU?); check `cri-rebalancer capabilities`";
    case EACCES:
    case EPERM: return "run as root or with CAP_PERFMON, or lower /proc/sys/kernel/perf_event_paranoid";
    case EMFILE:
    case ENFILE: return "raise the open-file limit (ulimit -n / LimitNOFILE) or count fewer containers";
    case EBADF: return "the cgroup path must be a cgroup2 directory (e.g. under /sys/fs/cgroup/unified on a hybrid host)";
    case ESRCH: return "the process has exited";
    default: return "check `cri-rebalancer capabilities`";
  }
}

int openEvent(const EventSpec& event, int pidOrCgroupFd, int cpu, int groupFd, bool cgroup, bool inherit) {
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = event.type;
  attr.config = event.config;
  attr.config1 = event.config1;
  attr.read_format = PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  attr.inherit = inherit ? 1 : 0;
  unsigned long flags = PERF_FLAG_FD_CLOEXEC | (cgroup ? PERF_FLAG_PID_CGROUP : 0);
  return static_cast<int>(syscall(SYS_perf_event_open, &attr, pidOrCgroupFd, cpu, groupFd, flags));
}

}  // namespace

void setFdBudget(size_t value) { budget = value; }
size_t fdBudget() {
  if (budget == 0) budget = defaultBudget();
  return budget;
}
size_t fdsOpen() { return openFds; }

CounterSet::CounterSet(const Target& target, const std::vector<EventSpec>& events) : eventCount_(events.size()) {
  const bool cgroup = !target.cgroupPath.empty();
  std::vector<int> cpus = target.cpus;
  if (!cgroup && cpus.empty()) cpus.push_back(-1);
  const size_t needed = cpus.size() * events.size();
  if (openFds + needed > fdBudget()) {
    throw OpenError("perf descriptor budget exceeded: " + std::to_string(openFds.load()) + " open + " +
                        std::to_string(needed) + " needed > budget " + std::to_string(fdBudget()) +
                        "; close the counters of containers that are gone, count fewer events, or raise the budget",
                    "EBUDGET");
  }
  int cgroupFd = -1;
  if (cgroup) {
    cgroupFd = ::open(target.cgroupPath.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgroupFd < 0) {
      int err = errno;
      throw OpenError("cannot open cgroup directory " + target.cgroupPath + ": " + std::strerror(err), errnoName(err));
    }
  }
  for (int cpu : cpus) {
    int leader = -1;
    for (const EventSpec& event : events) {
      int fd = openEvent(event, cgroup ? cgroupFd : target.pid, cpu, leader, cgroup, !cgroup);
      if (fd < 0) {
        int err = errno;
        if (cgroupFd >= 0) ::close(cgroupFd);
        close();
        std::string where = cgroup ? "cgroup " + target.cgroupPath : "pid " + std::to_string(target.pid);
        throw OpenError("perf_event_open(" + event.name + ", " + where + ", cpu " + std::to_string(cpu) +
                            ") failed: " + std::strerror(err) + "; " + hintFor(err),
                        errnoName(err));
      }
      if (leader < 0) leader = fd;
      fds_.push_back(fd);
      ++openFds;
    }
  }
  if (cgroupFd >= 0) ::close(cgroupFd);
  lastValues_.assign(fds_.size(), 0);
  lastEnabled_.assign(cpus.size(), 0);
  lastRunning_.assign(cpus.size(), 0);
}

CounterSet::~CounterSet() { close(); }

void CounterSet::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (int fd : fds_) ::close(fd);
  openFds -= fds_.size();
  fds_.clear();
}

Reading CounterSet::readDelta() {
  std::lock_guard<std::mutex> lock(mutex_);
  Reading reading;
  reading.values.assign(eventCount_, 0.0);
  if (fds_.empty()) {
    reading.error = "counters are closed";
    return reading;
  }
  // PERF_FORMAT_GROUP layout: nr, time_enabled, time_running, value[nr].
  std::vector<uint64_t> buffer(3 + eventCount_);
  const size_t groups = fds_.size() / eventCount_;
  for (size_t group = 0; group < groups; ++group) {
    ssize_t got = ::read(fds_[group * eventCount_], buffer.data(), buffer.size() * sizeof(uint64_t));
    if (got < static_cast<ssize_t>(3 * sizeof(uint64_t)) || buffer[0] != eventCount_) {
      reading.error = std::string("read of a perf counter group failed: ") + (got < 0 ? std::strerror(errno) : "short read");
      return reading;
    }
    const uint64_t enabled = buffer[1] - lastEnabled_[group];
    const uint64_t running = buffer[2] - lastRunning_[group];
    lastEnabled_[group] = buffer[1];
    lastRunning_[group] = buffer[2];
    reading.enabledNs += enabled;
    reading.runningNs += running;
    // Multiplexed counters ran only part of the time: extrapolate to the whole interval.
    const double scale = running == 0 ? 0.0 : static_cast<double>(enabled) / static_cast<double>(running);
    for (size_t event = 0; event < eventCount_; ++event) {
      const size_t slot = group * eventCount_ + event;
      const uint64_t value = buffer[3 + event];
      reading.values[event] += static_cast<double>(value - lastValues_[slot]) * scale;
      lastValues_[slot] = value;
    }
  }
  return reading;
}

std::string probeEvent(const EventSpec& event, const std::string& cgroupPath, int cpu) {
  int target = 0;  // this process
  bool cgroup = !cgroupPath.empty();
  if (cgroup) {
    target = ::open(cgroupPath.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (target < 0) return errnoName(errno);
  }
  int fd = openEvent(event, target, cgroup ? cpu : -1, -1, cgroup, false);
  int err = errno;
  if (cgroup) ::close(target);
  if (fd < 0) return errnoName(err);
  ::close(fd);
  return "";
}

}  // namespace perf
