// PostgreSQL backend over libpqxx 6.4: one connection, one transaction per Put. Parameters are
// sent as text (bytea in hex form), so one code path serves every column type.
#include <charconv>
#include <optional>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "store/sql_backend.h"

namespace messagecorps::services {
namespace {

std::string ToText(const SqlParam& p) {
  if (std::holds_alternative<int64_t>(p)) return std::to_string(std::get<int64_t>(p));
  if (std::holds_alternative<double>(p)) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, std::get<double>(p));
    return std::string(buf, end);
  }
  if (std::holds_alternative<std::string>(p)) return std::get<std::string>(p);
  if (std::holds_alternative<Blob>(p)) {
    static constexpr char kHex[] = "0123456789abcdef";
    const std::string& b = std::get<Blob>(p).bytes;
    std::string out = "\\x";
    out.reserve(2 + b.size() * 2);
    for (unsigned char c : b) {
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    return out;
  }
  return {};
}

class PostgresBackend : public SqlBackend {
 public:
  PostgresBackend(std::unique_ptr<pqxx::connection> conn, std::string description)
      : conn_(std::move(conn)), description_(std::move(description)) {}

  absl::Status Begin() override {
    return Guard([&] { work_.emplace(*conn_); });
  }
  absl::Status Commit() override {
    absl::Status s = Guard([&] {
      if (work_) work_->commit();
    });
    work_.reset();
    return s;
  }
  void Rollback() override {
    (void)Guard([&] {
      if (work_) work_->abort();
    });
    work_.reset();
  }

  absl::StatusOr<int64_t> Exec(const std::string& sql,
                               const std::vector<SqlParam>& params) override {
    int64_t changed = 0;
    absl::Status s = Guard([&] {
      pqxx::result r = Run(sql, params);
      changed = static_cast<int64_t>(r.affected_rows());
    });
    if (!s.ok()) return s;
    return changed;
  }

  absl::StatusOr<std::vector<std::vector<SqlCell>>> Query(
      const std::string& sql, const std::vector<SqlParam>& params,
      const std::vector<ColumnKind>& kinds) override {
    std::vector<std::vector<SqlCell>> rows;
    absl::Status s = Guard([&] {
      pqxx::result r = Run(sql, params);
      for (const auto& row : r) {
        std::vector<SqlCell> cells;
        for (size_t i = 0; i < kinds.size(); ++i) {
          const auto field = row[static_cast<pqxx::row::size_type>(i)];
          if (field.is_null()) {
            cells.emplace_back(std::monostate{});
            continue;
          }
          switch (kinds[i]) {
            case ColumnKind::kInt:
              cells.emplace_back(field.as<int64_t>());
              break;
            case ColumnKind::kBool:
              cells.emplace_back(int64_t{field.as<bool>() ? 1 : 0});
              break;
            case ColumnKind::kDouble:
              cells.emplace_back(field.as<double>());
              break;
            case ColumnKind::kText:
              cells.emplace_back(field.as<std::string>());
              break;
          }
        }
        rows.push_back(std::move(cells));
      }
    });
    if (!s.ok()) return s;
    return rows;
  }

  std::string blob_type() const override { return "BYTEA"; }
  std::string description() const override { return description_; }

 private:
  pqxx::result Run(const std::string& sql, const std::vector<SqlParam>& params) {
    std::vector<std::string> text;
    text.reserve(params.size());
    for (const auto& p : params) text.push_back(ToText(p));
    if (work_) return work_->exec_params(sql, pqxx::prepare::make_dynamic_params(text));
    pqxx::nontransaction tx(*conn_);
    return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(text));
  }

  template <class F>
  absl::Status Guard(F&& f) {
    try {
      f();
      return absl::OkStatus();
    } catch (const pqxx::broken_connection& e) {
      work_.reset();
      return absl::UnavailableError(absl::StrCat("postgresql: ", e.what()));
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("postgresql: ", e.what()));
    }
  }

  std::unique_ptr<pqxx::connection> conn_;
  std::optional<pqxx::work> work_;
  std::string description_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqlBackend>> OpenPostgresBackend(const std::string& url) {
  try {
    auto conn = std::make_unique<pqxx::connection>(url);
    std::string description =
        absl::StrCat("postgresql://", conn->hostname() ? conn->hostname() : "", ":",
                     conn->port() ? conn->port() : "", "/", conn->dbname() ? conn->dbname() : "");
    return std::unique_ptr<SqlBackend>(
        new PostgresBackend(std::move(conn), std::move(description)));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL: ", e.what()));
  }
}

}  // namespace messagecorps::services
