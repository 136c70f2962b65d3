#include "engine/retention/retention_job.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/history_export.h"
#include "engine/api/proto_convert.h"
#include "gridflow/v1/api_json.h"
#include "persistence/archive_store.h"
#include "persistence/event_store.h"
#include "persistence/run_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {
namespace {

namespace fs = std::filesystem;

Status Errno(const std::string& what, const std::string& path) {
  return Status::Unavailable("archive: cannot " + what + " " + path + ": " + std::strerror(errno));
}

// Flushes everything written to the file system that holds `dir` (one call for a whole batch of
// archives instead of an fsync per file and directory).
Status SyncFileSystem(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open", dir);
  const bool synced = ::syncfs(fd) == 0;
  ::close(fd);
  return synced ? Status::Ok() : Errno("sync", dir);
}

}  // namespace

RetentionJob::RetentionJob(persistence::ConnectionPool& owner_pool, std::string archive_dir)
    : pool_(owner_pool), archive_dir_(std::move(archive_dir)) {}

std::string RetentionJob::Location(const persistence::RunRow& run) {
  const std::string closed = FormatRfc3339(run.closed_at.value_or(run.updated_at));
  return run.namespace_name + "/" + closed.substr(0, 10) + "/" + run.id + ".jsonl";
}

std::string RetentionJob::Render(const persistence::RunRow& run,
                                 const std::vector<persistence::EventRow>& events) {
  v1::Run run_proto;
  ToProto(run, &run_proto);
  std::string out =
      HistoryExportHeaderJson(
          {run.namespace_name, run.workflow_id, run.id, static_cast<int64_t>(events.size()),
           events.empty() ? "" : events.back().hash, run.history_head},
          {{"run", nlohmann::json::parse(v1::ApiJson(run_proto))}})
          .dump() +
      "\n";
  for (const persistence::EventRow& e : events) {
    v1::Event event;
    ToProto(e, &event);
    out += v1::ApiJson(event) + "\n";
  }
  return out;
}

Status RetentionJob::WriteTemporary(const std::string& location, const std::string& content) const {
  const fs::path path = fs::path(archive_dir_) / location;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return Status::Unavailable("archive: cannot create " + path.parent_path().string() + ": " +
                               ec.message());
  }
  const std::string tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return Errno("create", tmp);
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Errno("write", tmp);
    }
    written += static_cast<size_t>(n);
  }
  return ::close(fd) == 0 ? Status::Ok() : Errno("close", tmp);
}

Status RetentionJob::Publish(const std::vector<std::string>& locations) const {
  // The contents on disk, then the names: a crash leaves whole archives or .tmp files, never a
  // named archive with missing content.
  if (Status s = SyncFileSystem(archive_dir_); !s.ok()) return s;
  for (const std::string& location : locations) {
    const std::string path = (fs::path(archive_dir_) / location).string();
    if (::rename((path + ".tmp").c_str(), path.c_str()) != 0) return Errno("rename", path);
  }
  return SyncFileSystem(archive_dir_);
}

Status RetentionJob::ArchiveDue(int batch, int* done) {
  *done = 0;
  int archived = 0;
  const Status s = persistence::Transact(pool_, "archive runs", [&](pqxx::work& txn) -> Status {
    archived = 0;
    const std::vector<persistence::RunRow> runs = persistence::LockRunsPastRetention(txn, batch);
    if (runs.empty()) return Status::Ok();
    std::vector<std::string> ids;
    std::vector<std::string> locations;
    for (const persistence::RunRow& run : runs) {
      const std::vector<persistence::EventRow> events =
          persistence::ListEvents(txn, run.id, 0, std::numeric_limits<int>::max());
      persistence::ArchivedRunRow row;
      row.namespace_name = run.namespace_name;
      row.run_id = run.id;
      row.workflow_id = run.workflow_id;
      row.definition_name = run.definition_name;
      row.definition_version = run.definition_version;
      row.status = run.status;
      row.created_at = run.created_at;
      row.closed_at = run.closed_at.value_or(run.updated_at);
      row.location = Location(run);
      row.history_length = static_cast<int64_t>(events.size());
      row.history_head = run.history_head;
      if (Status w = WriteTemporary(row.location, Render(run, events)); !w.ok()) return w;
      persistence::InsertArchivedRun(txn, row);
      ids.push_back(run.id);
      locations.push_back(row.location);
    }
    // On disk before the runs are deleted: the commit below never loses a run.
    if (Status p = Publish(locations); !p.ok()) return p;
    persistence::DeleteRuns(txn, ids);
    archived = static_cast<int>(ids.size());
    return Status::Ok();
  });
  if (!s.ok()) return s;
  *done = archived;
  if (archived > 0) spdlog::info("retention: archived and deleted {} closed runs", archived);
  return Status::Ok();
}

}  // namespace gridflow::engine
