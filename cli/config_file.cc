#include "cli/config_file.h"

#include <cstdlib>
#include <fstream>
#include <map>

#include "common/duration.h"

namespace gridflow::cli {
namespace {

std::string Trim(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  const size_t last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

std::string Unquote(const std::string& s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

}  // namespace

std::string ConfigPath(int argc, char** argv, bool* explicit_path) {
  *explicit_path = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) return argv[i + 1];
    if (arg.rfind("--config=", 0) == 0) return arg.substr(9);
  }
  if (const char* env = std::getenv("GRIDFLOW_CONFIG"); env != nullptr && *env != '\0') {
    return env;
  }
  *explicit_path = false;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "") + "/.config/gridflow/gridflowctl.conf";
}

bool ReadTokenFile(const std::string& path, std::string* token, std::string* error) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    *error = "cannot read the token file " + path;
    return false;
  }
  *token = Trim(line);
  return true;
}

bool LoadConfigFile(const std::string& path, bool must_exist, ClientOptions* o,
                    std::string* error) {
  std::ifstream in(path);
  if (!in) {
    if (!must_exist) return true;
    *error = "cannot read the configuration file " + path;
    return false;
  }
  std::string token_file;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    line = Trim(line);
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    const std::string where = path + ":" + std::to_string(number) + ": ";
    if (eq == std::string::npos) {
      *error = where + "expected \"key = value\"";
      return false;
    }
    const std::string key = Trim(line.substr(0, eq));
    const std::string value = Unquote(Trim(line.substr(eq + 1)));
    ClientTransport& t = o->transport;
    std::map<std::string, std::string*> text_keys = {
        {"address", &t.address},    {"namespace", &o->namespace_name},
        {"identity", &o->identity}, {"tls_ca", &t.tls_ca},
        {"tls_cert", &t.tls_cert},  {"tls_key", &t.tls_key},
        {"token", &t.token},        {"tls_server_name", &t.tls_server_name},
        {"token_file", &token_file}};
    if (auto it = text_keys.find(key); it != text_keys.end()) {
      *it->second = value;
    } else if (key == "output") {
      if (value != "table" && value != "json") {
        *error = where + "output must be table or json";
        return false;
      }
      o->output = value;
    } else if (key == "timeout") {
      const auto d = ParseDuration(value);
      if (!d) {
        *error = where + "timeout: '" + value + "' is not a duration";
        return false;
      }
      o->timeout = *d;
    } else if (key == "tls") {
      if (value != "true" && value != "false") {
        *error = where + "tls must be true or false";
        return false;
      }
      o->transport.tls = value == "true";
    } else {
      *error = where + "unknown key '" + key + "'";
      return false;
    }
  }
  if (!token_file.empty() && !ReadTokenFile(token_file, &o->transport.token, error)) return false;
  return true;
}

}  // namespace gridflow::cli
