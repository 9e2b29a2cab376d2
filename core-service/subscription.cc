#include "core-service/subscription.h"

#include <algorithm>

#include "common/log.h"
#include "common/strings.h"
#include "core-service/errors.h"
#include "core-service/proto_convert.h"

namespace tchatator::core {
namespace {
// Changes read per database round trip, and at most held unwritten: the next read
// waits until these are written, so a client that stops reading costs at most this
// much memory, and at most this many of its messages are marked read unwritten.
constexpr int64_t kFetchBatch = 100;
}  // namespace

Subscription::Subscription(grpc::CallbackServerContext* context,
                           const v1::SubscribeRequest& request, ChatLogic& logic,
                           RpcRunner& runner, ChangeFeed& feed)
    : context_(context),
      logic_(logic),
      runner_(runner),
      feed_(feed),
      cursor_(request.after_change_id()),
      check_only_(request.check_only()),
      retry_timer_(runner.Executor()) {
  std::lock_guard lock(mu_);
  PostLocked(&Subscription::Begin);
}

void Subscription::PostLocked(void (Subscription::*task)()) {
  ++tasks_in_flight_;
  runner_.Post([this, task] {
    (this->*task)();
    std::lock_guard lock(mu_);
    if (--tasks_in_flight_ == 0) idle_.notify_all();
  });
}

void Subscription::Begin() {
  absl::StatusOr<Caller> caller = logic_.Authenticate(BearerToken(*context_));
  // Before the first read, and outside mu_, which gRPC's threads take.
  if (caller.ok() && !check_only_) feed_.MarkLive(caller->user_id);
  // A check starts no stream: no need for where one would start.
  absl::StatusOr<int64_t> latest = caller.ok() && !check_only_
                                       ? logic_.LatestChangeId(*caller)
                                       : absl::StatusOr<int64_t>(0);
  const std::string ip = ClientIp(*context_);
  std::lock_guard lock(mu_);
  client_ip_ = ip;
  absl::Status status = caller.ok() ? latest.status() : caller.status();
  if (status.ok() && cursor_ < 0) {
    status = Error(absl::StatusCode::kInvalidArgument, "bad-value",
                   "after_change_id is a change id, or 0");
  }
  Log::Write(caller.ok() ? StrCat(caller->user_id) : "", ip,
             StrCat("Subscribe ", absl::StatusCodeToString(status.code())));
  if (finished_) return;
  if (!status.ok()) {
    FinishLocked(ToGrpcStatus(status, *context_));
    return;
  }
  caller_ = *caller;
  // 0 means "from now on", except when a gateway resumes a stream that started before
  // this user had any change: then it means "every change".
  if (cursor_ <= 0 && ClientMetadata(*context_, "tchatator-resume").empty()) {
    cursor_ = *latest;
  }
  // A cursor beyond every change of the user was never handed out (or the database was
  // restored from an older backup): the changes to come could be numbered below it and
  // skipped. Nothing lies beyond the latest, so starting there loses nothing.
  cursor_ = std::min(cursor_, *latest);
  // Tells the gateway the stream is accepted (a refusal sends trailers only), and from
  // which change it starts: a stream that breaks before its first change resumes from
  // there, not from the latest change of its next start.
  context_->AddInitialMetadata("tchatator-subscribed", "1");
  context_->AddInitialMetadata("tchatator-after-change-id", StrCat(cursor_));
  // Whose events these are: a gateway tells a second SUBSCRIBE of the same user on a
  // connection from another user's.
  context_->AddInitialMetadata("tchatator-user-id", StrCat(caller_->user_id));
  StartSendInitialMetadata();
  if (check_only_) {
    FinishLocked(grpc::Status::OK);
    return;
  }
  // Before the first read, so that no change committed after it goes without a wake.
  feed_handle_ = feed_.Subscribe(caller_->user_id, [this] { Wake(); });
  // A resumed stream may have missed changes: read them now.
  fetching_ = true;
  PostLocked(&Subscription::Fetch);
}

void Subscription::Wake() {
  std::lock_guard lock(mu_);
  fetch_again_ = true;
  FetchIfDueLocked();
}

void Subscription::FetchIfDueLocked() {
  if (finished_ || !caller_ || !fetch_again_ || fetching_ || write_in_flight_ ||
      !pending_.empty()) {
    return;
  }
  fetch_again_ = false;
  fetching_ = true;
  PostLocked(&Subscription::Fetch);
}

void Subscription::Fetch() {
  Caller caller;
  int64_t cursor;
  {
    std::lock_guard lock(mu_);
    if (finished_) {
      fetching_ = false;
      return;
    }
    caller = *caller_;
    cursor = cursor_;
  }
  absl::StatusOr<std::vector<storage::Change>> changes =
      logic_.TakeChanges(caller, cursor, kFetchBatch);
  const absl::Time now = logic_.clock().Now();
  std::lock_guard lock(mu_);
  fetching_ = false;
  if (finished_) return;
  // The session ended (logout, expiry, ban) since the stream began.
  if (absl::IsUnauthenticated(changes.status()) || absl::IsPermissionDenied(changes.status())) {
    FinishLocked(ToGrpcStatus(changes.status(), *context_));
    return;
  }
  if (!changes.ok()) {
    // Only the first of a series: a database that is away fails every stream's reads.
    if (failed_fetches_ == 0) {
      Log::Info(StrCat("Subscribe fetch failed: ", changes.status().message()));
    }
    RetryLaterLocked();
    return;
  }
  failed_fetches_ = 0;
  for (const storage::Change& change : *changes) {
    FillChange(change, caller.user_id, now, pending_.emplace_back());
    cursor_ = change.id;
  }
  // A full batch: there may be more, read once these are written.
  if (static_cast<int64_t>(changes->size()) == kFetchBatch) fetch_again_ = true;
  WriteNextLocked();
  FetchIfDueLocked();
}

void Subscription::RetryLaterLocked() {
  const absl::Duration delay =
      std::min(kMaxRetryDelay, absl::Seconds(1) * (int64_t{1} << std::min(failed_fetches_, 5)));
  ++failed_fetches_;
  ++tasks_in_flight_;
  retry_timer_.expires_after(absl::ToChronoMilliseconds(delay));
  retry_timer_.async_wait([this](const asio::error_code& error) {
    std::lock_guard lock(mu_);
    // Aborted: the stream is ending (OnDone), or a newer failure set the timer again.
    if (!error) {
      fetch_again_ = true;
      FetchIfDueLocked();
    }
    if (--tasks_in_flight_ == 0) idle_.notify_all();
  });
}

void Subscription::WriteNextLocked() {
  if (finished_ || write_in_flight_ || pending_.empty()) return;
  writing_ = std::move(pending_.front());
  pending_.pop_front();
  write_in_flight_ = true;
  StartWrite(&writing_);
}

void Subscription::OnWriteDone(bool ok) {
  std::lock_guard lock(mu_);
  write_in_flight_ = false;
  if (!ok) {
    FinishLocked(grpc::Status::CANCELLED);
    return;
  }
  WriteNextLocked();
  FetchIfDueLocked();
}

void Subscription::OnCancel() {
  std::lock_guard lock(mu_);
  FinishLocked(grpc::Status::CANCELLED);
}

void Subscription::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  Finish(status);
}

void Subscription::OnDone() {
  std::optional<uint64_t> handle;
  {
    std::lock_guard lock(mu_);
    finished_ = true;
    handle = feed_handle_;
    retry_timer_.cancel();
  }
  // No wake after this, and no database task still touching us.
  if (handle) feed_.Unsubscribe(*handle);
  {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return tasks_in_flight_ == 0; });
  }
  Log::Write(caller_ ? StrCat(caller_->user_id) : "", client_ip_, "Subscribe ended");
  delete this;
}

}  // namespace tchatator::core
