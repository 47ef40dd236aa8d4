//! The `stream-webhooks` binary; everything it does lives in the library.

fn main() -> std::process::ExitCode {
    stream_webhooks::cli::main()
}
