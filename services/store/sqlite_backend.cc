// SQLite backend: one connection, WAL journal (readers such as `mcorps-store --query` do not
// block the writer), synchronous=NORMAL (a power cut may lose the last transactions, never corrupt
// the file; redelivery refills them).
#include <sqlite3.h>

#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "store/sql_backend.h"

namespace messagecorps::services {
namespace {

class SqliteBackend : public SqlBackend {
 public:
  SqliteBackend(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteBackend() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  absl::Status Begin() override { return Simple("BEGIN IMMEDIATE"); }
  absl::Status Commit() override { return Simple("COMMIT"); }
  void Rollback() override { (void)Simple("ROLLBACK"); }

  absl::StatusOr<int64_t> Exec(const std::string& sql,
                               const std::vector<SqlParam>& params) override {
    auto stmt = Prepare(sql, params);
    if (!stmt.ok()) return stmt.status();
    int rc;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
    }
    sqlite3_reset(*stmt);
    if (rc != SQLITE_DONE) return Error("step");
    return static_cast<int64_t>(sqlite3_changes(db_));
  }

  absl::StatusOr<std::vector<std::vector<SqlCell>>> Query(
      const std::string& sql, const std::vector<SqlParam>& params,
      const std::vector<ColumnKind>& kinds) override {
    auto stmt = Prepare(sql, params);
    if (!stmt.ok()) return stmt.status();
    std::vector<std::vector<SqlCell>> rows;
    int rc;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
      std::vector<SqlCell> row;
      for (size_t i = 0; i < kinds.size(); ++i) {
        const int col = static_cast<int>(i);
        if (sqlite3_column_type(*stmt, col) == SQLITE_NULL) {
          row.emplace_back(std::monostate{});
          continue;
        }
        switch (kinds[i]) {
          case ColumnKind::kInt:
          case ColumnKind::kBool:
            row.emplace_back(static_cast<int64_t>(sqlite3_column_int64(*stmt, col)));
            break;
          case ColumnKind::kDouble:
            row.emplace_back(sqlite3_column_double(*stmt, col));
            break;
          case ColumnKind::kText: {
            const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(*stmt, col));
            row.emplace_back(std::string(text ? text : "", sqlite3_column_bytes(*stmt, col)));
            break;
          }
        }
      }
      rows.push_back(std::move(row));
    }
    sqlite3_reset(*stmt);
    if (rc != SQLITE_DONE) return Error("query");
    return rows;
  }

  std::string blob_type() const override { return "BLOB"; }
  std::string description() const override { return "sqlite:" + path_; }

 private:
  absl::Status Simple(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown";
      sqlite3_free(err);
      return absl::InternalError(absl::StrCat("sqlite ", sql, ": ", msg));
    }
    return absl::OkStatus();
  }

  absl::Status Error(const char* what) const {
    const int code = sqlite3_errcode(db_);
    const std::string msg = absl::StrCat("sqlite ", what, ": ", sqlite3_errmsg(db_));
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return absl::UnavailableError(msg);
    return absl::InternalError(msg);
  }

  // Prepared statements are cached per SQL text (the store runs the same few statements).
  absl::StatusOr<sqlite3_stmt*> Prepare(const std::string& pg_sql,
                                        const std::vector<SqlParam>& params) {
    auto it = statements_.find(pg_sql);
    if (it == statements_.end()) {
      std::string sql = pg_sql;
      for (char& c : sql) {
        if (c == '$') c = '?';  // $1 -> ?1: same numbering
      }
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
        return Error("prepare");
      }
      it = statements_.emplace(pg_sql, stmt).first;
    }
    sqlite3_stmt* stmt = it->second;
    sqlite3_clear_bindings(stmt);
    for (size_t i = 0; i < params.size(); ++i) {
      const int index = static_cast<int>(i) + 1;
      const SqlParam& p = params[i];
      int rc = SQLITE_OK;
      if (std::holds_alternative<int64_t>(p)) {
        rc = sqlite3_bind_int64(stmt, index, std::get<int64_t>(p));
      } else if (std::holds_alternative<double>(p)) {
        rc = sqlite3_bind_double(stmt, index, std::get<double>(p));
      } else if (std::holds_alternative<std::string>(p)) {
        const auto& s = std::get<std::string>(p);
        rc = sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      } else if (std::holds_alternative<Blob>(p)) {
        const auto& b = std::get<Blob>(p).bytes;
        rc = sqlite3_bind_blob(stmt, index, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
      } else {
        rc = sqlite3_bind_null(stmt, index);
      }
      if (rc != SQLITE_OK) return Error("bind");
    }
    return stmt;
  }

  sqlite3* db_;
  std::string path_;
  std::map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqlBackend>> OpenSqliteBackend(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::InternalError(absl::StrCat("cannot open SQLite database ", path, ": ", msg));
  }
  sqlite3_busy_timeout(db, 5000);
  auto backend = std::make_unique<SqliteBackend>(db, path);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"}) {
    auto r = backend->Exec(pragma, {});
    if (!r.ok()) return r.status();
  }
  return std::unique_ptr<SqlBackend>(std::move(backend));
}

}  // namespace messagecorps::services
