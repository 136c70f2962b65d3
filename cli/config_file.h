// gridflowctl's configuration file: defaults for the connection settings, so an operator does
// not repeat --address, TLS files and the token on every command. Precedence, highest first:
// flags, environment variables, this file, built-in defaults.
//
// The file is "key = value" lines ('#' starts a comment; values may be "quoted"). Keys: address,
// namespace, identity, output, timeout, tls (true/false), tls_ca, tls_cert, tls_key,
// tls_server_name, token, token_file. Unknown keys are errors, so typos do not pass silently.
#pragma once

#include <string>

#include "cli/client.h"

namespace gridflow::cli {

// The file to read: --config PATH (or --config=PATH) in argv, else $GRIDFLOW_CONFIG, else
// ~/.config/gridflow/gridflowctl.conf. `explicit_path` tells whether it was asked for.
std::string ConfigPath(int argc, char** argv, bool* explicit_path);

// Applies the file's settings to `options`. A missing file is fine unless `must_exist`.
// On failure `error` says which line is wrong and why.
bool LoadConfigFile(const std::string& path, bool must_exist, ClientOptions* options,
                    std::string* error);

// The token from a file (first line, surrounding whitespace removed).
bool ReadTokenFile(const std::string& path, std::string* token, std::string* error);

}  // namespace gridflow::cli
