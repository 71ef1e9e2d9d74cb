// Who may do what at the gateway, against the real broker: TLS and mutual TLS on both ports, JWT
// bearer tokens (HS256, RS256) and static tokens, a permissions file reloaded on SIGHUP, quotas.
// Every refused call is UNAUTHENTICATED / 401 or PERMISSION_DENIED / 403 and causes no Kafka
// traffic; no token appears in the gateway's log (at debug level).
#include <gtest/gtest.h>
#include <jwt.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "integration/gateway_support.h"
#include "messagecorps/admin.h"
#include "protobuf/data/ImageData.pb.h"
#include "support/kafka_test_env.h"
#include "support/test_brokers.h"
#include "support/test_topics.h"

namespace messagecorps::testing {
namespace {

using Json = nlohmann::json;

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int Shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str());
}

struct Jwt {
  std::string alg = "HS256";
  std::string key;  // HMAC secret or RSA private key PEM
  std::string sub = "alice", iss = "test-issuer", aud = "mcorps-gateway";
  long exp_offset = 3600;

  std::string Encode() const {
    jwt_t* jwt = nullptr;
    jwt_new(&jwt);
    const long now = static_cast<long>(time(nullptr));
    if (!sub.empty()) jwt_add_grant(jwt, "sub", sub.c_str());
    jwt_add_grant(jwt, "iss", iss.c_str());
    jwt_add_grant(jwt, "aud", aud.c_str());
    jwt_add_grant_int(jwt, "iat", now);
    jwt_add_grant_int(jwt, "exp", now + exp_offset);
    jwt_set_alg(jwt, alg == "RS256" ? JWT_ALG_RS256 : JWT_ALG_HS256,
                reinterpret_cast<const unsigned char*>(key.data()), static_cast<int>(key.size()));
    char* text = jwt_encode_str(jwt);
    std::string out = text ? text : "";
    free(text);
    jwt_free(jwt);
    return out;
  }
};

class GatewayAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    brokers_ = new std::string(TestBrokers());
    dir_ = new TempDir("gateway_auth_");
    const std::filesystem::path d = dir_->path();
    const std::string suffix = UniqueName("a").substr(2);
    open_ = new std::string("gw-auth-open-" + suffix);
    secret_topic_ = new std::string("gw-auth-secret-" + suffix);
    CreateTopicOrFail(*brokers_, *open_, 2);
    CreateTopicOrFail(*brokers_, *secret_topic_, 1);

    // A CA, the server's certificate (for 127.0.0.1), alice's client certificate, and mallory's,
    // signed by another CA.
    const std::string cd = "cd " + d.string() + " && ";
    auto ok = [](int rc) { ASSERT_EQ(rc, 0) << "openssl failed"; };
    ok(Shell(cd + "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
                  "-subj /CN=test-ca"));
    ok(Shell(cd + "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
                  "-subj /CN=gateway && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > "
                  "san.ext && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
                  "-CAcreateserial -out server.pem -days 2 -extfile san.ext"));
    ok(Shell(cd + "openssl req -newkey rsa:2048 -nodes -keyout alice.key -out alice.csr "
                  "-subj /CN=alice && openssl x509 -req -in alice.csr -CA ca.pem -CAkey ca.key "
                  "-CAcreateserial -out alice.pem -days 2"));
    ok(Shell(
        cd +
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.pem "
        "-days 2 -subj /CN=rogue-ca && openssl req -newkey rsa:2048 -nodes -keyout "
        "mallory.key -out mallory.csr -subj /CN=mallory && openssl x509 -req -in "
        "mallory.csr -CA rogue.pem -CAkey rogue.key -CAcreateserial -out mallory.pem -days 2"));
    ok(Shell(cd + "openssl genrsa -out jwt_rs.key 2048 && openssl rsa -in jwt_rs.key -pubout -out "
                  "jwt_rs.pub"));
    hs_secret_ = new std::string("a-32-byte-or-longer-hs256-test-secret!");
    std::ofstream(d / "hs256.secret") << *hs_secret_ << "\n";
    std::ofstream(d / "tokens") << "# static tokens\n"
                                << kBobToken << " bob\n"
                                << kDaveToken << " dave\n"
                                << kErinToken << " erin\n";
    WritePermissions(false);
    std::ofstream(d / "quotas") << "dave messages_per_s=5 streams=1\n"
                                << "erin bytes_per_s=" << kErinBytesPerSecond << "\n";
    std::ofstream(d / "registry.conf") << *open_ << " protobuf.data.Image encoding=raw\n"
                                       << *secret_topic_ << " protobuf.data.Image encoding=raw\n";

    setenv("MCORPS_LOG_LEVEL", "debug", 1);  // the token must not appear even at debug level
    gateway_ = new GatewayProcess("gateway_auth", *brokers_,
                                  {"--registry",
                                   (d / "registry.conf").string(),
                                   "--tls-cert",
                                   (d / "server.pem").string(),
                                   "--tls-key",
                                   (d / "server.key").string(),
                                   "--tls-client-ca",
                                   (d / "ca.pem").string(),
                                   "--mtls-principal",
                                   "--tokens-file",
                                   (d / "tokens").string(),
                                   "--jwt-hs256-secret-file",
                                   (d / "hs256.secret").string(),
                                   "--jwt-rs256-public-key",
                                   (d / "jwt_rs.pub").string(),
                                   "--jwt-issuer",
                                   "test-issuer",
                                   "--jwt-audience",
                                   "mcorps-gateway",
                                   "--permissions",
                                   (d / "permissions").string(),
                                   "--quotas",
                                   (d / "quotas").string()},
                                  d);
    unsetenv("MCORPS_LOG_LEVEL");
    ASSERT_TRUE(gateway_->WaitReady());
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete dir_;
  }

  static void WritePermissions(bool bob_may_publish) {
    std::ofstream(dir_->path() / "permissions")
        << "# principal  rights  topics\n"
        << "alice all " << *open_ << "\n"
        << "bob " << (bob_may_publish ? "publish,subscribe" : "subscribe") << " " << *open_ << "\n"
        << "dave all " << *open_ << "\n"
        << "erin publish " << *open_ << "\n"
        << "carol publish gw-auth-secret-*\n";
  }

  // A channel with TLS; `client` names alice/mallory's certificate, "" for none.
  static std::unique_ptr<v1::Gateway::Stub> Stub(const std::string& client = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Slurp(dir_->path() / "ca.pem");
    if (!client.empty()) {
      ssl.pem_private_key = Slurp(dir_->path() / (client + ".key"));
      ssl.pem_cert_chain = Slurp(dir_->path() / (client + ".pem"));
    }
    return v1::Gateway::NewStub(
        grpc::CreateChannel(gateway_->grpc_target(), grpc::SslCredentials(ssl)));
  }

  static grpc::Status Publish(const std::string& topic, const std::string& bearer,
                              const std::string& client = "", v1::PublishResponse* out = nullptr,
                              grpc::ClientContext* context = nullptr) {
    grpc::ClientContext local;
    grpc::ClientContext& ctx = context ? *context : local;
    if (!bearer.empty()) ctx.AddMetadata("authorization", "Bearer " + bearer);
    v1::PublishRequest req;
    req.set_topic(topic);
    req.set_json(R"({"frame": 1})");
    v1::PublishResponse resp;
    return Stub(client)->Publish(&ctx, req, out ? out : &resp);
  }

  static std::unique_ptr<httplib::SSLClient> Https(const std::string& client = "") {
    const auto d = dir_->path();
    auto https = std::make_unique<httplib::SSLClient>(
        "127.0.0.1", gateway_->http_port(),
        client.empty() ? std::string() : (d / (client + ".pem")).string(),
        client.empty() ? std::string() : (d / (client + ".key")).string());
    https->set_ca_cert_path((d / "ca.pem").string().c_str());
    https->enable_server_certificate_verification(true);
    https->set_read_timeout(std::chrono::seconds(30));
    return https;
  }

  static std::map<int32_t, int64_t> Watermarks(const std::string& topic) {
    ClientConfig config;
    config.brokers = *brokers_;
    auto admin = AdminClient::Create(config);
    std::map<int32_t, int64_t> out;
    auto info = (*admin)->DescribeTopic(topic, std::chrono::seconds(10));
    if (info.ok()) {
      for (const auto& p : info->partitions) out[p.id] = p.high;
    }
    return out;
  }

  static constexpr char kBobToken[] = "static-token-of-bob-5f0c6a1e8b3d";
  static constexpr char kDaveToken[] = "static-token-of-dave-77aa01c2";
  static constexpr char kErinToken[] = "static-token-of-erin-0c3b9d51";
  static constexpr int kErinBytesPerSecond = 2000;
  static std::string *brokers_, *open_, *secret_topic_, *hs_secret_;
  static TempDir* dir_;
  static GatewayProcess* gateway_;
};

std::string *GatewayAuthTest::brokers_, *GatewayAuthTest::open_, *GatewayAuthTest::secret_topic_,
    *GatewayAuthTest::hs_secret_;
TempDir* GatewayAuthTest::dir_ = nullptr;
GatewayProcess* GatewayAuthTest::gateway_ = nullptr;

TEST_F(GatewayAuthTest, RefusedCredentialsAreUnauthenticatedWithNoKafkaTraffic) {
  const auto before_open = Watermarks(*open_);
  const std::string rs_key = Slurp(dir_->path() / "jwt_rs.key");
  Jwt expired{"HS256", *hs_secret_};
  expired.exp_offset = -3600;
  Jwt wrong_audience{"HS256", *hs_secret_};
  wrong_audience.aud = "someone-else";
  Jwt wrong_issuer{"RS256", rs_key};
  wrong_issuer.iss = "other-issuer";
  Jwt badly_signed{"HS256", "a-different-secret-of-32-bytes-or-more"};
  // HS256 keyed with the RSA public key (the classic algorithm confusion).
  Jwt confused{"HS256", Slurp(dir_->path() / "jwt_rs.pub")};
  Jwt no_subject{"RS256", rs_key};
  no_subject.sub = "";
  const std::vector<std::pair<std::string, std::string>> tokens = {
      {"missing", ""},
      {"expired", expired.Encode()},
      {"wrong audience", wrong_audience.Encode()},
      {"wrong issuer", wrong_issuer.Encode()},
      {"badly signed", badly_signed.Encode()},
      {"alg confusion", confused.Encode()},
      {"no sub", no_subject.Encode()},
      {"unknown static token", "not-a-known-token"},
  };
  std::vector<std::string> secrets;
  for (const auto& [name, token] : tokens) {
    SCOPED_TRACE(name);
    if (!token.empty()) secrets.push_back(token);
    const grpc::Status s = Publish(*open_, token);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
    EXPECT_EQ(s.error_message().find(token.empty() ? "\x01" : token), std::string::npos);
    auto https = Https();
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    auto res = https->Post(("/v1/topics/" + *open_ + "/records").c_str(), headers,
                           R"({"frame": 1})", "application/json");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 401) << res->body;
    EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer");
    auto sse = https->Get(("/v1/topics/" + *open_ + "/records").c_str(), headers);
    ASSERT_TRUE(sse);
    EXPECT_EQ(sse->status, 401);
  }
  // An untrusted client certificate: refused by the gateway (not just the handshake), even with
  // an otherwise valid token.
  const std::string valid = Jwt{"RS256", rs_key}.Encode();
  const grpc::Status untrusted = Publish(*open_, valid, "mallory");
  EXPECT_EQ(untrusted.error_code(), grpc::StatusCode::UNAUTHENTICATED) << untrusted.error_message();
  EXPECT_NE(untrusted.error_message().find("not trusted"), std::string::npos);
  auto https = Https("mallory");
  auto res = https->Post(("/v1/topics/" + *open_ + "/records").c_str(),
                         httplib::Headers{{"Authorization", "Bearer " + valid}}, R"({"frame": 1})",
                         "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 401) << res->body;
  // A subscription refused: no stream, no consumer.
  grpc::ClientContext ctx;
  v1::SubscribeRequest sub;
  sub.set_topic(*open_);
  auto reader = Stub()->Subscribe(&ctx, sub);
  v1::SubscribeResponse resp;
  EXPECT_FALSE(reader->Read(&resp));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  EXPECT_EQ(Watermarks(*open_), before_open) << "a refused call produced something";
  // The tokens never reach a log line (the gateway logs at debug level here).
  const std::string log = gateway_->process().Log();
  for (const std::string& secret : secrets) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "a token appears in the log";
  }
  EXPECT_EQ(log.find(valid), std::string::npos);
  EXPECT_EQ(log.find(kBobToken), std::string::npos);
}

TEST_F(GatewayAuthTest, PrincipalsFromTokensAndCertificatesAreStampedIntoRecords) {
  const std::string rs_key = Slurp(dir_->path() / "jwt_rs.key");
  v1::PublishResponse resp;
  // RS256 JWT for alice.
  ASSERT_TRUE(Publish(*open_, Jwt{"RS256", rs_key}.Encode(), "", &resp).ok());
  // HS256 JWT for alice.
  ASSERT_TRUE(Publish(*open_, Jwt{"HS256", *hs_secret_}.Encode()).ok());
  // alice's client certificate alone (no token).
  v1::PublishResponse by_cert;
  const grpc::Status s = Publish(*open_, "", "alice", &by_cert);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // Over HTTPS with the certificate too.
  auto https = Https("alice");
  auto res = https->Post(("/v1/topics/" + *open_ + "/records").c_str(), R"({"frame": 2})",
                         "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200) << res->body;

  // The record says who published it.
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", std::string("Bearer ") + kBobToken);
  v1::SubscribeRequest sub;
  sub.set_topic(*open_);
  (*sub.mutable_offsets()->mutable_offsets())[by_cert.partition()] = by_cert.offset();
  auto reader = Stub()->Subscribe(&ctx, sub);
  v1::SubscribeResponse records;
  ASSERT_TRUE(reader->Read(&records)) << "bob may subscribe";
  std::string principal;
  for (const auto& h : records.records(0).headers()) {
    if (h.key() == "mcorps-principal") principal = h.value();
  }
  EXPECT_EQ(principal, "alice");
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(GatewayAuthTest, PermissionsPerTopicAndReloadOnSighup) {
  const std::string alice = Jwt{"RS256", Slurp(dir_->path() / "jwt_rs.key")}.Encode();
  // alice: no right on the secret topic; bob: subscribe only.
  const grpc::Status denied = Publish(*secret_topic_, alice);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED) << denied.error_message();
  EXPECT_NE(denied.error_message().find("may not publish to topic " + *secret_topic_),
            std::string::npos);
  EXPECT_EQ(Publish(*open_, kBobToken).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  auto https = Https();
  auto res = https->Post(("/v1/topics/" + *open_ + "/records").c_str(),
                         httplib::Headers{{"Authorization", std::string("Bearer ") + kBobToken}},
                         R"({"frame": 1})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403) << res->body;
  // ListTopics shows only what the principal has rights on.
  grpc::ClientContext list_ctx;
  list_ctx.AddMetadata("authorization", std::string("Bearer ") + kBobToken);
  v1::ListTopicsResponse list;
  ASSERT_TRUE(Stub()->ListTopics(&list_ctx, {}, &list).ok());
  std::vector<std::string> names;
  for (const auto& t : list.topics()) names.push_back(t.name());
  EXPECT_EQ(names, std::vector<std::string>{*open_});

  // SIGHUP re-reads the file: bob may publish now.
  WritePermissions(true);
  kill(gateway_->process().pid(), SIGHUP);
  grpc::Status s;
  for (int i = 0; i < 50; ++i) {
    s = Publish(*open_, kBobToken);
    if (s.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_NE(gateway_->process().Log().find("permissions and quotas reloaded"), std::string::npos);
  WritePermissions(false);
  kill(gateway_->process().pid(), SIGHUP);
}

// A PublishStream batch checks each record's topic: the gateway checks a batch's topic once and
// the rest of its records against that, so records naming another topic must still be refused
// alone, before and after an allowed one.
TEST_F(GatewayAuthTest, BatchRecordsAreAuthorizedPerTopic) {
  const std::string alice = Jwt{"RS256", Slurp(dir_->path() / "jwt_rs.key")}.Encode();
  const std::map<int32_t, int64_t> open_before = Watermarks(*open_);
  const std::map<int32_t, int64_t> secret_before = Watermarks(*secret_topic_);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + alice);
  auto stub = Stub();
  auto stream = stub->PublishStream(&ctx);
  v1::PublishRequest batch;
  batch.set_topic(*open_);
  batch.set_correlation_id(1);
  // The batch's topic, the forbidden one, the batch's again, the forbidden one again.
  const std::vector<std::string> topics = {"", *secret_topic_, *open_, *secret_topic_};
  for (size_t i = 0; i < topics.size(); ++i) {
    v1::PublishRequest* r = batch.add_records();
    r->set_correlation_id(10 + i);
    r->set_topic(topics[i]);
    r->set_json(R"({"frame": 1})");
  }
  ASSERT_TRUE(stream->Write(batch));
  stream->WritesDone();
  v1::PublishResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(resp.results_size(), 4);
  for (int i = 0; i < 4; ++i) {
    const v1::PublishResponse& r = resp.results(i);
    EXPECT_EQ(r.correlation_id(), static_cast<uint64_t>(10 + i));
    if (i % 2 == 0) {
      EXPECT_EQ(r.code(), 0) << i << ": " << r.error();
    } else {
      EXPECT_EQ(r.code(), static_cast<int>(grpc::StatusCode::PERMISSION_DENIED)) << i;
      EXPECT_NE(r.error().find("may not publish to topic " + *secret_topic_), std::string::npos)
          << r.error();
    }
  }
  int64_t open_added = 0;
  for (const auto& [p, high] : Watermarks(*open_)) open_added += high - open_before.at(p);
  EXPECT_EQ(open_added, 2);
  EXPECT_EQ(Watermarks(*secret_topic_), secret_before) << "a refused record was produced";
}

// An acknowledged SSE stream (ack=true) takes acknowledgements from the principal that opened it
// only: another principal gets 403, no credentials 401.
TEST_F(GatewayAuthTest, OnlyTheStreamsPrincipalMayAcknowledgeIt) {
  // Stopping the TLS client from this thread sends close_notify on a socket the reading thread
  // may already have closed: OpenSSL writes without MSG_NOSIGNAL.
  signal(SIGPIPE, SIG_IGN);
  std::mutex mu;
  std::condition_variable cv;
  std::string id;
  std::atomic<bool> stop{false};
  auto reader = Https();
  const std::string path =
      "/v1/topics/" + *open_ + "/records?ack=true&group=" + UniqueName("gw-auth-acked");
  std::jthread thread([&] {
    reader->Get(
        path.c_str(), httplib::Headers{{"Authorization", std::string("Bearer ") + kBobToken}},
        [&](const httplib::Response& r) {
          std::lock_guard lock(mu);
          id = r.get_header_value("X-Mcorps-Stream-Id");
          cv.notify_all();
          return true;
        },
        [&](const char*, size_t) { return !stop.load(); });
  });
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(30), [&] { return !id.empty(); });
  }
  ASSERT_FALSE(id.empty()) << "no X-Mcorps-Stream-Id";
  auto post = [&](const std::string& token) {
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return Https()->Post(("/v1/streams/" + id + "/acks").c_str(), headers,
                         R"({"acks":[{"partition":0,"offset":0}]})", "application/json");
  };
  auto other = post(kDaveToken);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 403) << other->body;
  EXPECT_NE(other->body.find("another principal"), std::string::npos) << other->body;
  auto anonymous = post("");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401) << anonymous->body;
  auto own = post(kBobToken);
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 200) << own->body;
  stop = true;
  reader->stop();
}

TEST_F(GatewayAuthTest, QuotasRefuseWithRetryAfter) {
  // dave: 5 messages/s (a bucket of one second's worth), 1 stream.
  // 30 publishes at once (so that a loaded machine cannot spread them over seconds).
  std::atomic<int> refused{0}, accepted{0};
  std::mutex mu;
  std::string retry_after;
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> burst;
  for (int i = 0; i < 30; ++i) {
    burst.emplace_back([&] {
      grpc::ClientContext ctx;
      const grpc::Status s = Publish(*open_, kDaveToken, "", nullptr, &ctx);
      if (s.ok()) {
        ++accepted;
        return;
      }
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
      ++refused;
      auto it = ctx.GetServerTrailingMetadata().find("retry-after");
      if (it != ctx.GetServerTrailingMetadata().end()) {
        std::lock_guard lock(mu);
        retry_after = std::string(it->second.data(), it->second.size());
      }
    });
  }
  for (auto& t : burst) t.join();
  // A full bucket (5) plus what refilled meanwhile (5 per second), whatever the machine's speed.
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_LE(accepted.load(), 5 + static_cast<int>(5 * elapsed) + 1) << elapsed << " s";
  EXPECT_GE(refused.load(), 1) << elapsed << " s";
  EXPECT_EQ(retry_after, "1");
  // Over HTTP: posts until the bucket is empty, then 429 with Retry-After.
  auto https = Https();
  int status = 0;
  std::string http_retry_after;
  for (int i = 0; i < 30 && status != 429; ++i) {
    auto res = https->Post(("/v1/topics/" + *open_ + "/records").c_str(),
                           httplib::Headers{{"Authorization", std::string("Bearer ") + kDaveToken}},
                           R"({"frame": 1})", "application/json");
    ASSERT_TRUE(res);
    status = res->status;
    http_retry_after = res->get_header_value("Retry-After");
  }
  EXPECT_EQ(status, 429);
  EXPECT_EQ(http_retry_after, "1");

  // One stream at a time.
  grpc::ClientContext first;
  first.AddMetadata("authorization", std::string("Bearer ") + kDaveToken);
  v1::SubscribeRequest sub;
  sub.set_topic(*open_);
  auto stub = Stub();
  auto reader = stub->Subscribe(&first, sub);
  reader->WaitForInitialMetadata();
  grpc::ClientContext second;
  second.AddMetadata("authorization", std::string("Bearer ") + kDaveToken);
  auto reader2 = stub->Subscribe(&second, sub);
  v1::SubscribeResponse resp;
  EXPECT_FALSE(reader2->Read(&resp));
  const grpc::Status s2 = reader2->Finish();
  EXPECT_EQ(s2.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s2.error_message();
  first.TryCancel();
  reader->Finish();
}

TEST_F(GatewayAuthTest, ByteQuotaRefusesWithRetryAfterAndAdmitsARecordLargerThanItsBucket) {
  // erin: 2000 bytes/s (a bucket of one second's worth); each publish request is ~500 bytes.
  auto publish = [](size_t source_bytes, grpc::ClientContext* ctx) {
    ctx->AddMetadata("authorization", std::string("Bearer ") + kErinToken);
    v1::PublishRequest req;
    req.set_topic(*open_);
    req.set_json(R"({"frame": 1, "source": ")" + std::string(source_bytes, 'x') + R"("})");
    v1::PublishResponse resp;
    return Stub()->Publish(ctx, req, &resp);
  };
  std::atomic<int> refused{0}, accepted{0};
  std::mutex mu;
  std::string message;
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> burst;
  for (int i = 0; i < 20; ++i) {
    burst.emplace_back([&] {
      grpc::ClientContext ctx;
      const grpc::Status s = publish(460, &ctx);
      if (s.ok()) {
        ++accepted;
        return;
      }
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
      ++refused;
      std::lock_guard lock(mu);
      message = s.error_message();
      EXPECT_NE(ctx.GetServerTrailingMetadata().find("retry-after"),
                ctx.GetServerTrailingMetadata().end());
    });
  }
  for (auto& t : burst) t.join();
  // A full bucket (2000 bytes: 4 requests of ~500) plus what refilled meanwhile.
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_LE(accepted.load(), 4 + static_cast<int>(4 * elapsed) + 1) << elapsed << " s";
  EXPECT_GE(refused.load(), 1) << elapsed << " s";
  EXPECT_NE(message.find("bytes/s"), std::string::npos) << message;
  // A record larger than a second's worth is not refused forever: it waits for a full bucket.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  grpc::ClientContext big;
  const grpc::Status s = publish(3 * kErinBytesPerSecond, &big);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace messagecorps::testing
