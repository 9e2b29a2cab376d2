#include "common/time_text.h"

#include <cstdint>

namespace tchatator {
namespace {

// Appends `value` (0 <= value < 10^digits) with `digits` digits.
void AppendDigits(int64_t value, int digits, std::string& out) {
  char buffer[8];
  for (int i = digits - 1; i >= 0; --i) {
    buffer[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buffer, static_cast<size_t>(digits));
}

}  // namespace

std::string UtcTimeText(absl::Time t, bool milliseconds) {
  const int64_t ms = absl::ToUnixMillis(t);  // rounds toward negative infinity
  int64_t seconds = ms / 1000;
  int64_t millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  int64_t days = seconds / 86400;
  int64_t second_of_day = seconds % 86400;
  if (second_of_day < 0) {
    second_of_day += 86400;
    --days;
  }
  // Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant, "chrono-Compatible
  // Low-Level Date Algorithms", civil_from_days).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t day_of_era = z - era * 146097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t mp = (5 * day_of_year + 2) / 153;
  const int64_t day = day_of_year - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
  // absl writes years before 1000 with fewer digits, and after 9999 with more.
  if (year < 1000 || year > 9999) {
    return absl::FormatTime(milliseconds ? "%Y-%m-%dT%H:%M:%E3SZ" : "%Y-%m-%dT%H:%M:%SZ", t,
                            absl::UTCTimeZone());
  }
  std::string out;
  out.reserve(24);
  AppendDigits(year, 4, out);
  out.push_back('-');
  AppendDigits(month, 2, out);
  out.push_back('-');
  AppendDigits(day, 2, out);
  out.push_back('T');
  AppendDigits(second_of_day / 3600, 2, out);
  out.push_back(':');
  AppendDigits(second_of_day / 60 % 60, 2, out);
  out.push_back(':');
  AppendDigits(second_of_day % 60, 2, out);
  if (milliseconds) {
    out.push_back('.');
    AppendDigits(millis, 3, out);
  }
  out.push_back('Z');
  return out;
}

}  // namespace tchatator
