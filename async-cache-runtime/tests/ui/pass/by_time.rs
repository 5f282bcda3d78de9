use std::time::Duration;

use async_cache_runtime::async_cached;

// `version` may be left out with `refresh_after`: it is then `()`, and entries are
// refreshed by age alone.
#[async_cached(locator = format!("weather/{city}"), refresh_after = Duration::from_secs(60))]
async fn weather(city: String) -> String {
    format!("sunny in {city}")
}

// Every `Duration` argument, evaluated per call.
#[async_cached(
    locator = "all",
    version = 1_u8,
    expires_in = ttl * 10,
    refresh_after = ttl,
    fail_safe = ttl * 60,
    soft_timeout = Duration::from_millis(50),
)]
async fn timed(ttl: Duration) -> u8 {
    let _ = ttl;
    1
}

fn main() {
    let _ = (weather, timed);
}
