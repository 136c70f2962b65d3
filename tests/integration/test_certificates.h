// Test certificates: a CA, server certificates for localhost / 127.0.0.1, client certificates
// (one named by its subject, one by a URI SAN) and a tokens file, made with the openssl command
// in a temporary folder that lives as long as the object.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/integration/test_env.h"

namespace gridflow::testing {

// A CA, a server certificate for localhost / 127.0.0.1 and a client certificate, made with the
// openssl command in a temporary folder.
class Certificates {
 public:
  Certificates()
      : dir_(std::filesystem::temp_directory_path() / ("gf-tls-" + std::to_string(getpid()))) {
    std::filesystem::create_directories(dir_);
    const std::string script = R"sh(
set -e
cd ")sh" + dir_.string() + R"sh("
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj "/CN=Gridflow test CA"
for who in server client; do
  key $who.key
  openssl req -new -key $who.key -out $who.csr -subj "/CN=$who"
done
printf "subjectAltName=DNS:localhost,IP:127.0.0.1\n" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
  -days 2 -extfile server.ext 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem \
  -days 2 2>/dev/null
# A workload certificate named by a URI SAN (a SPIFFE ID), as a service mesh issues them.
key bert.key
openssl req -new -key bert.key -out bert.csr -subj "/CN=bert/O=Grid Ops"
printf "subjectAltName=URI:spiffe://gridflow.test/ops/bert\n" > bert.ext
openssl x509 -req -in bert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out bert.pem \
  -days 2 -extfile bert.ext 2>/dev/null
printf "s3cret-ops anna\n# retired: old-token\ns3cret-workers workers\n" > tokens
# A second CA and a server certificate it signed: what a rotation installs.
key ca2.key
openssl req -x509 -new -key ca2.key -out ca2.pem -days 2 -subj "/CN=Gridflow test CA 2"
key server2.key
openssl req -new -key server2.key -out server2.csr -subj "/CN=server"
openssl x509 -req -in server2.csr -CA ca2.pem -CAkey ca2.key -CAcreateserial -out server2.pem \
  -days 2 -extfile server.ext 2>/dev/null
key client2.key
openssl req -new -key client2.key -out client2.csr -subj "/CN=client2"
openssl x509 -req -in client2.csr -CA ca2.pem -CAkey ca2.key -CAcreateserial -out client2.pem \
  -days 2 2>/dev/null
)sh";
    std::string out, err;
    EXPECT_EQ(RunCommand({"/bin/bash", "-c", script}, &out, &err), 0) << err;
  }
  ~Certificates() { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
};

}  // namespace gridflow::testing
