// The few database operations the store needs, implemented for SQLite and PostgreSQL; SqlStore
// (sql_store.cc) builds the Store on top of them so both databases share one mapping of messages
// to rows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace messagecorps::services {

struct Blob {
  std::string bytes;
};
using SqlParam = std::variant<std::monostate, int64_t, double, std::string, Blob>;
using SqlCell = std::variant<std::monostate, int64_t, double, std::string>;
enum class ColumnKind { kInt, kDouble, kText, kBool };

class SqlBackend {
 public:
  virtual ~SqlBackend() = default;
  virtual absl::Status Begin() = 0;
  virtual absl::Status Commit() = 0;
  virtual void Rollback() = 0;
  // Runs a statement; returns the number of rows it changed.
  virtual absl::StatusOr<int64_t> Exec(const std::string& sql,
                                       const std::vector<SqlParam>& params) = 0;
  // Runs a query; cells are read as `kinds` says (NULL -> monostate; kBool -> int64 0/1).
  virtual absl::StatusOr<std::vector<std::vector<SqlCell>>> Query(
      const std::string& sql, const std::vector<SqlParam>& params,
      const std::vector<ColumnKind>& kinds) = 0;
  virtual std::string blob_type() const = 0;
  virtual std::string description() const = 0;
};

absl::StatusOr<std::unique_ptr<SqlBackend>> OpenSqliteBackend(const std::string& path);
absl::StatusOr<std::unique_ptr<SqlBackend>> OpenPostgresBackend(const std::string& url);

}  // namespace messagecorps::services
