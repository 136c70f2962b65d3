// Console sessions without server-side state: the user's engine token is sealed into the session
// cookie (AES-256-GCM under the console's session key), so any console replica reads any cookie
// and a restart with the same key keeps everyone signed in. The CSRF token of a session is an
// HMAC of its cookie: a page of the console can read it (GET /api/session), another site cannot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace gridflow::console {

struct Session {
  std::string token;     // the user's bearer token for the engine; empty: anonymous
  std::string name;      // what the user called themselves at sign-in (shown, never trusted)
  int64_t expires_unix;  // seconds since the epoch
};

class SessionKeys {
 public:
  // Keys derived from a secret file's content (at least 32 bytes): every replica given the same
  // file reads the others' cookies. INVALID_ARGUMENT naming the file when it is unreadable or
  // short.
  static Status FromFile(const std::string& path, SessionKeys* keys);
  // Keys from the system's random source: sessions end when the process does.
  static SessionKeys Random();

  // The cookie value: base64url of nonce, ciphertext and tag.
  std::string Seal(const Session& session) const;
  // The session in a cookie; nullopt when the cookie was not sealed with these keys, was altered,
  // or has expired at `now_unix`.
  std::optional<Session> Open(const std::string& cookie, int64_t now_unix) const;

  // The CSRF token that goes with a cookie (hex), and a constant-time check of one presented.
  std::string CsrfToken(const std::string& cookie) const;
  bool CheckCsrf(const std::string& cookie, const std::string& presented) const;

 private:
  unsigned char seal_key_[32] = {};
  unsigned char csrf_key_[32] = {};
};

}  // namespace gridflow::console
