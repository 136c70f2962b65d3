// The API's JSON of a gridflow.v1 message, as gridflowctl prints it and history exports and
// archives hold it: proto field names, every primitive field printed (zeros too).
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <string>

namespace gridflow::v1 {

inline std::string ApiJson(const google::protobuf::Message& message, bool indented = false) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = indented;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

}  // namespace gridflow::v1
