#include "console/session.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "common/file.h"

namespace gridflow::console {
namespace {

constexpr int kNonceBytes = 12;
constexpr int kTagBytes = 16;

const unsigned char* Bytes(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string Base64Url(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), Bytes(raw),
                                static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=')
    out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

// Only the canonical encoding decodes: the last character's unused bits must be zero, so no two
// cookie strings stand for the same bytes.
std::optional<std::string> FromBase64Url(std::string text) {
  const std::string encoded = text;
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return std::nullopt;
  }
  for (char& c : text) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  const size_t padding = (4 - text.size() % 4) % 4;
  if (padding == 3) return std::nullopt;
  text.append(padding, '=');
  std::string out(3 * text.size() / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), Bytes(text),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - padding);
  if (Base64Url(out) != encoded) return std::nullopt;
  return out;
}

// HMAC-SHA256 of `data` under `key`, raw.
std::string Hmac(const unsigned char* key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key, 32, Bytes(data), data.size(), mac, &length);
  return {reinterpret_cast<const char*>(mac), length};
}

std::string Hex(const std::string& raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// A 32-byte key for one purpose, from the secret.
void DeriveKey(const std::string& secret, const std::string& purpose, unsigned char out[32]) {
  const std::string input = purpose + "\n" + secret;
  SHA256(Bytes(input), input.size(), out);
}

void KeysFromSecret(const std::string& secret, unsigned char* seal, unsigned char* csrf) {
  DeriveKey(secret, "gridflow-console seal", seal);
  DeriveKey(secret, "gridflow-console csrf", csrf);
}

}  // namespace

Status SessionKeys::FromFile(const std::string& path, SessionKeys* keys) {
  std::string secret;
  if (Status read = ReadTextFile("--session-key-file", path, &secret); !read.ok()) return read;
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
    secret.pop_back();
  if (secret.size() < 32) {
    return Status::InvalidArgument("--session-key-file: " + path +
                                   " holds fewer than 32 bytes; use e.g. `openssl rand -hex 32`");
  }
  KeysFromSecret(secret, keys->seal_key_, keys->csrf_key_);
  return Status::Ok();
}

SessionKeys SessionKeys::Random() {
  std::string secret(32, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), 32);
  SessionKeys keys;
  KeysFromSecret(secret, keys.seal_key_, keys.csrf_key_);
  return keys;
}

std::string SessionKeys::Seal(const Session& session) const {
  const std::string plain =
      nlohmann::json{{"t", session.token}, {"n", session.name}, {"e", session.expires_unix}}.dump();
  std::string nonce(kNonceBytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes);
  std::string cipher(plain.size(), '\0');
  std::string tag(kTagBytes, '\0');
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int length = 0;
  EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, seal_key_, Bytes(nonce));
  EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(cipher.data()), &length, Bytes(plain),
                    static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx, nullptr, &length);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, tag.data());
  EVP_CIPHER_CTX_free(ctx);
  return Base64Url(nonce + cipher + tag);
}

std::optional<Session> SessionKeys::Open(const std::string& cookie, int64_t now_unix) const {
  if (cookie.size() > 8192) return std::nullopt;
  const std::optional<std::string> raw = FromBase64Url(cookie);
  if (!raw || raw->size() < kNonceBytes + kTagBytes) return std::nullopt;
  const std::string nonce = raw->substr(0, kNonceBytes);
  const std::string cipher = raw->substr(kNonceBytes, raw->size() - kNonceBytes - kTagBytes);
  std::string tag = raw->substr(raw->size() - kTagBytes);
  std::string plain(cipher.size(), '\0');
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int length = 0;
  EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, seal_key_, Bytes(nonce));
  EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(plain.data()), &length, Bytes(cipher),
                    static_cast<int>(cipher.size()));
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data());
  const bool authentic = EVP_DecryptFinal_ex(ctx, nullptr, &length) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!authentic) return std::nullopt;
  const nlohmann::json fields = nlohmann::json::parse(plain, nullptr, false);
  if (!fields.is_object() || !fields["t"].is_string() || !fields["n"].is_string() ||
      !fields["e"].is_number_integer()) {
    return std::nullopt;
  }
  Session session{fields["t"].get<std::string>(), fields["n"].get<std::string>(),
                  fields["e"].get<int64_t>()};
  if (session.expires_unix <= now_unix) return std::nullopt;
  return session;
}

std::string SessionKeys::CsrfToken(const std::string& cookie) const {
  return Hex(Hmac(csrf_key_, cookie));
}

bool SessionKeys::CheckCsrf(const std::string& cookie, const std::string& presented) const {
  const std::string expected = CsrfToken(cookie);
  return !cookie.empty() && presented.size() == expected.size() &&
         CRYPTO_memcmp(expected.data(), presented.data(), expected.size()) == 0;
}

}  // namespace gridflow::console
