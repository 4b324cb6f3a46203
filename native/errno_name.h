// The errno's symbolic name ("ENOENT"), as node:fs errors carry it in `code`, and as the
// TypeScript side names errnos it gets as numbers (src/monitor/migration-pacing.ts): "E<number>"
// for one glibc does not name.
#ifndef CRI_REBALANCER_ERRNO_NAME_H
#define CRI_REBALANCER_ERRNO_NAME_H

#include <string.h>

#include <string>

inline std::string errnoName(int error) {
  const char* name = strerrorname_np(error);  // glibc >= 2.32
  return name != nullptr ? name : "E" + std::to_string(error);
}

#endif
