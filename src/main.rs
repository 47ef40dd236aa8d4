//! The `stream-webhooks` binary; everything it does lives in the library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    stream_webhooks::cli::main()
}
