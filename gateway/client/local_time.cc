#include "gateway/client/local_time.h"

#include <cstdio>

namespace tchatator::client {
namespace {

// Reads `count` digits at `text[pos]`.
std::optional<int> Digits(std::string_view text, size_t pos, size_t count) {
  if (pos + count > text.size()) return std::nullopt;
  int value = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

std::tm Local(std::time_t time) {
  std::tm tm{};
  localtime_r(&time, &tm);
  return tm;
}

std::string Format(const char* format, const std::tm& tm) {
  char out[64];
  const size_t n = std::strftime(out, sizeof out, format, &tm);
  return std::string(out, n);
}

}  // namespace

std::optional<std::time_t> ParseRfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction]Z
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  size_t end = 19;
  if (end < text.size() && text[end] == '.') {
    ++end;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  }
  if (end + 1 != text.size() || (text[end] != 'Z' && text[end] != 'z')) return std::nullopt;
  const auto year = Digits(text, 0, 4), month = Digits(text, 5, 2), day = Digits(text, 8, 2),
             hour = Digits(text, 11, 2), minute = Digits(text, 14, 2),
             second = Digits(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || *month < 1 || *month > 12 ||
      *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  return timegm(&tm);
}

std::string FormatShortTime(std::time_t time, std::time_t now) {
  const std::tm t = Local(time);
  const std::tm n = Local(now);
  if (t.tm_year == n.tm_year && t.tm_yday == n.tm_yday) return Format("%H:%M", t);
  const std::tm y = Local(now - 24 * 3600);
  if (t.tm_year == y.tm_year && t.tm_yday == y.tm_yday) return Format("hier %H:%M", t);
  if (t.tm_year == n.tm_year) return Format("%d/%m %H:%M", t);
  return Format("%d/%m/%Y %H:%M", t);
}

std::string FormatDateTime(std::time_t time) { return Format("%d/%m/%Y à %H:%M", Local(time)); }

std::string FormatClock(std::time_t time) { return Format("%H:%M:%S", Local(time)); }

std::string ShortTimeOf(std::string_view rfc3339, std::time_t now) {
  const std::optional<std::time_t> time = ParseRfc3339(rfc3339);
  return time ? FormatShortTime(*time, now) : std::string(rfc3339);
}

std::string DateTimeOf(std::string_view rfc3339) {
  const std::optional<std::time_t> time = ParseRfc3339(rfc3339);
  return time ? FormatDateTime(*time) : std::string(rfc3339);
}

}  // namespace tchatator::client
