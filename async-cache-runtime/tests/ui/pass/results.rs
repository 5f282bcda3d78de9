use async_cache_runtime::async_cached;

#[derive(Debug)]
struct MyError;

impl From<std::num::ParseIntError> for MyError {
    fn from(_: std::num::ParseIntError) -> Self {
        MyError
    }
}

type Result<T, E = MyError> = std::result::Result<T, E>;

mod errors {
    pub type Result<T> = std::result::Result<T, super::MyError>;
}

// `?` converts through `From`, in the body and in `version`.
#[async_cached(locator = "alias", version = input.parse::<u64>()?)]
async fn alias(input: String) -> Result<u64> {
    Ok(input.parse::<u64>()? + 1)
}

#[async_cached(locator = "path", version = 1_u8)]
async fn path() -> errors::Result<u8> {
    Err(MyError)
}

#[async_cached(locator = "io", version = 1_u8)]
async fn io() -> std::io::Result<String> {
    std::fs::read_to_string("/nonexistent")
}

#[async_cached(locator = "early", version = 1_u8)]
async fn early_return(n: u8) -> core::result::Result<u8, String> {
    if n == 0 {
        return Err("zero".into());
    }
    let m = n.checked_add(1).ok_or("overflow")?;
    Ok(m)
}

fn main() {
    let _ = (alias, path, io, early_return);
}
