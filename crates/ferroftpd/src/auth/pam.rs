//! The few functions of libpam that [`super::SystemAuthorizer`] calls,
//! declared by hand and loaded at run time.
//!
//! libpam is opened with `dlopen` (`libpam.so.0`, Linux-PAM's soname) the
//! first time a `SystemAuthorizer` is built, so building ferroftpd needs
//! neither the PAM headers nor libclang (no bindgen), and a binary built
//! with the `system-users` feature runs on a machine without libpam as long
//! as system users are not asked for. The declarations follow Linux-PAM's
//! `<security/_pam_types.h>` and `<security/pam_appl.h>`; the values used
//! here are those of X/Open XSSO, which OpenPAM shares.
//!
//! This is the only module of the crate with `unsafe` code.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::OnceLock;

/// The names tried, in order: Linux-PAM's soname, then the development
/// link some systems have instead.
const LIBRARY_NAMES: &[&str] = &["libpam.so.0", "libpam.so"];

/// A PAM return value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Code(pub c_int);

impl Code {
    pub const SUCCESS: Code = Code(0);
    pub const BUF_ERR: Code = Code(5);
    pub const CONV_ERR: Code = Code(19);
    pub const ABORT: Code = Code(26);

    /// The constant's name in `<security/_pam_types.h>`.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 32] = [
            "PAM_SUCCESS",
            "PAM_OPEN_ERR",
            "PAM_SYMBOL_ERR",
            "PAM_SERVICE_ERR",
            "PAM_SYSTEM_ERR",
            "PAM_BUF_ERR",
            "PAM_PERM_DENIED",
            "PAM_AUTH_ERR",
            "PAM_CRED_INSUFFICIENT",
            "PAM_AUTHINFO_UNAVAIL",
            "PAM_USER_UNKNOWN",
            "PAM_MAXTRIES",
            "PAM_NEW_AUTHTOK_REQD",
            "PAM_ACCT_EXPIRED",
            "PAM_SESSION_ERR",
            "PAM_CRED_UNAVAIL",
            "PAM_CRED_EXPIRED",
            "PAM_CRED_ERR",
            "PAM_NO_MODULE_DATA",
            "PAM_CONV_ERR",
            "PAM_AUTHTOK_ERR",
            "PAM_AUTHTOK_RECOVERY_ERR",
            "PAM_AUTHTOK_LOCK_BUSY",
            "PAM_AUTHTOK_DISABLE_AGING",
            "PAM_TRY_AGAIN",
            "PAM_IGNORE",
            "PAM_ABORT",
            "PAM_AUTHTOK_EXPIRED",
            "PAM_MODULE_UNKNOWN",
            "PAM_BAD_ITEM",
            "PAM_CONV_AGAIN",
            "PAM_INCOMPLETE",
        ];
        usize::try_from(self.0)
            .ok()
            .and_then(|i| NAMES.get(i))
            .copied()
            .unwrap_or("unknown PAM error")
    }
}

/// `pam_set_item` item types.
#[derive(Debug, Clone, Copy)]
#[repr(i32)]
pub(crate) enum Item {
    /// `PAM_TTY`.
    Tty = 3,
    /// `PAM_RHOST`: where the login comes from (for `pam_access`).
    Rhost = 4,
}

/// `PAM_DISALLOW_NULL_AUTHTOK`: an empty password never authenticates.
pub(crate) const DISALLOW_NULL_AUTHTOK: c_int = 0x0001;

// Message styles.
const PROMPT_ECHO_OFF: c_int = 1;
const PROMPT_ECHO_ON: c_int = 2;
const ERROR_MSG: c_int = 3;
const TEXT_INFO: c_int = 4;

/// `PAM_MAX_NUM_MSG`: PAM sends no more messages at once.
const MAX_NUM_MSG: usize = 32;

/// A PAM call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{function}: {message} ({})", code.name())]
pub(crate) struct PamError {
    /// The libpam function that returned it.
    pub function: &'static str,
    /// What it returned.
    pub code: Code,
    /// `pam_strerror`'s text, or ours.
    pub message: String,
}

/// libpam could not be loaded (at [`SystemAuthorizerBuilder::build`]).
///
/// [`SystemAuthorizerBuilder::build`]: super::SystemAuthorizerBuilder::build
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot load libpam ({tried}): {reason}; install the PAM library (Debian and Ubuntu: libpam0g)"
)]
pub struct PamLoadError {
    tried: String,
    reason: String,
}

/// `pam_handle_t`, opaque.
#[repr(C)]
struct Handle {
    _private: [u8; 0],
}

/// `struct pam_message`.
#[repr(C)]
struct Message {
    msg_style: c_int,
    msg: *const c_char,
}

/// `struct pam_response`.
#[repr(C)]
struct Response {
    resp: *mut c_char,
    resp_retcode: c_int,
}

/// The conversation function of `struct pam_conv`. Linux-PAM and OpenPAM
/// pass `msg` as an array of `num_msg` pointers to messages.
type ConvFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const Message,
    resp: *mut *mut Response,
    appdata_ptr: *mut c_void,
) -> c_int;

/// `struct pam_conv`.
#[repr(C)]
struct Conv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

type StartFn = unsafe extern "C" fn(
    service_name: *const c_char,
    user: *const c_char,
    pam_conversation: *const Conv,
    pamh: *mut *mut Handle,
) -> c_int;
type EndFn = unsafe extern "C" fn(pamh: *mut Handle, pam_status: c_int) -> c_int;
/// `pam_authenticate` and `pam_acct_mgmt`.
type FlagsFn = unsafe extern "C" fn(pamh: *mut Handle, flags: c_int) -> c_int;
type SetItemFn =
    unsafe extern "C" fn(pamh: *mut Handle, item_type: c_int, item: *const c_void) -> c_int;
type StrerrorFn = unsafe extern "C" fn(pamh: *mut Handle, errnum: c_int) -> *const c_char;

/// libpam, loaded, with the functions used.
pub(crate) struct Pam {
    start: StartFn,
    end: EndFn,
    authenticate: FlagsFn,
    acct_mgmt: FlagsFn,
    set_item: SetItemFn,
    strerror: StrerrorFn,
    /// Keeps the functions above mapped; never unloaded.
    _library: libloading::os::unix::Library,
}

impl std::fmt::Debug for Pam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pam")
    }
}

impl Pam {
    /// libpam, loaded on first use and kept for the life of the process.
    pub(crate) fn get() -> Result<&'static Pam, PamLoadError> {
        static PAM: OnceLock<Result<Pam, PamLoadError>> = OnceLock::new();
        PAM.get_or_init(|| Pam::load(LIBRARY_NAMES))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Opens the first of `names` that loads and looks its functions up.
    fn load(names: &[&str]) -> Result<Pam, PamLoadError> {
        let mut reasons = Vec::new();
        for &name in names {
            // RTLD_NOW: every symbol is bound here, at startup, before a
            // sandbox could stop the loader from reading anything.
            // SAFETY: libpam's initialisers are those of an ordinary C
            // library.
            let opened = unsafe {
                libloading::os::unix::Library::open(
                    Some(name),
                    libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL,
                )
            };
            match opened.and_then(Pam::bind) {
                Ok(pam) => return Ok(pam),
                // libloading's own text is "dlopen failed": the loader's
                // message (file not found, wrong class...) is its source.
                Err(e) => reasons.push(match std::error::Error::source(&e) {
                    Some(cause) => cause.to_string(),
                    None => e.to_string(),
                }),
            }
        }
        Err(PamLoadError {
            tried: names.join(", "),
            reason: reasons.join("; "),
        })
    }

    fn bind(library: libloading::os::unix::Library) -> Result<Pam, libloading::Error> {
        // SAFETY: each type is the function's C prototype, from
        // <security/pam_appl.h>; the pointers stay valid while `library`
        // is loaded, which is as long as `Pam` lives (and it lives in a
        // static, never dropped).
        unsafe {
            Ok(Pam {
                start: *library.get::<StartFn>(b"pam_start\0")?,
                end: *library.get::<EndFn>(b"pam_end\0")?,
                authenticate: *library.get::<FlagsFn>(b"pam_authenticate\0")?,
                acct_mgmt: *library.get::<FlagsFn>(b"pam_acct_mgmt\0")?,
                set_item: *library.get::<SetItemFn>(b"pam_set_item\0")?,
                strerror: *library.get::<StrerrorFn>(b"pam_strerror\0")?,
                _library: library,
            })
        }
    }

    /// `pam_strerror`'s text for `code`.
    fn error(&self, handle: *mut Handle, function: &'static str, code: c_int) -> PamError {
        // SAFETY: pam_strerror returns a static string (or null) and
        // ignores the handle, which may be null.
        let text = unsafe { (self.strerror)(handle, code) };
        let message = if text.is_null() {
            "unknown error".to_owned()
        } else {
            // SAFETY: a NUL-terminated string that PAM keeps.
            unsafe { CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned()
        };
        PamError {
            function,
            code: Code(code),
            message,
        }
    }

    /// `pam_start`: a transaction for `user` with the `service`'s
    /// configuration, talking to `conversation`.
    pub(crate) fn start<C: Conversation>(
        &'static self,
        service: &str,
        user: &str,
        conversation: C,
    ) -> Result<Transaction<C>, PamError> {
        let nul = |what: &str| PamError {
            function: "pam_start",
            code: Code::BUF_ERR,
            message: format!("the {what} contains a NUL byte"),
        };
        let service = CString::new(service).map_err(|_| nul("service name"))?;
        let user = CString::new(user).map_err(|_| nul("user name"))?;
        let conversation = Box::into_raw(Box::new(conversation));
        let conv = Box::new(Conv {
            conv: Some(converse::<C>),
            appdata_ptr: conversation.cast(),
        });
        let mut handle = ptr::null_mut();
        // SAFETY: valid strings and conversation, which outlive the
        // transaction (freed in `Transaction::drop`, after pam_end).
        let code = unsafe { (self.start)(service.as_ptr(), user.as_ptr(), &*conv, &mut handle) };
        if code != Code::SUCCESS.0 || handle.is_null() {
            // SAFETY: made by Box::into_raw above; a pam_start that failed
            // keeps no handle (Linux-PAM frees it) and so no reference.
            drop(unsafe { Box::from_raw(conversation) });
            return Err(if code == Code::SUCCESS.0 {
                PamError {
                    function: "pam_start",
                    code: Code::ABORT,
                    message: "no handle".to_owned(),
                }
            } else {
                self.error(ptr::null_mut(), "pam_start", code)
            });
        }
        Ok(Transaction {
            pam: self,
            handle,
            last_status: code,
            conversation,
            _conv: conv,
        })
    }
}

/// One PAM transaction, ended (`pam_end`) when dropped.
pub(crate) struct Transaction<C> {
    pam: &'static Pam,
    /// From a pam_start that succeeded: never null.
    handle: *mut Handle,
    /// Passed to pam_end, so that modules clean up knowing the outcome.
    last_status: c_int,
    /// Owned: made with `Box::into_raw`, freed in `drop`.
    conversation: *mut C,
    _conv: Box<Conv>,
}

impl<C> std::fmt::Debug for Transaction<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").finish_non_exhaustive()
    }
}

impl<C> Transaction<C> {
    fn check(&mut self, function: &'static str, code: c_int) -> Result<(), PamError> {
        self.last_status = code;
        if code == Code::SUCCESS.0 {
            Ok(())
        } else {
            Err(self.pam.error(self.handle, function, code))
        }
    }

    /// `pam_set_item` with a string (PAM copies it).
    pub(crate) fn set_item(&mut self, item: Item, value: &str) -> Result<(), PamError> {
        let value = CString::new(value).map_err(|_| PamError {
            function: "pam_set_item",
            code: Code::BUF_ERR,
            message: "the value contains a NUL byte".to_owned(),
        })?;
        // SAFETY: a live handle and a valid string.
        let code =
            unsafe { (self.pam.set_item)(self.handle, item as c_int, value.as_ptr().cast()) };
        self.check("pam_set_item", code)
    }

    /// `pam_authenticate`: the modules ask, through the conversation, and
    /// check.
    pub(crate) fn authenticate(&mut self, flags: c_int) -> Result<(), PamError> {
        // SAFETY: a live handle; the conversation is alive.
        let code = unsafe { (self.pam.authenticate)(self.handle, flags) };
        self.check("pam_authenticate", code)
    }

    /// `pam_acct_mgmt`: whether the account may log in now (expiry,
    /// `pam_access` rules...).
    pub(crate) fn acct_mgmt(&mut self, flags: c_int) -> Result<(), PamError> {
        // SAFETY: as for authenticate.
        let code = unsafe { (self.pam.acct_mgmt)(self.handle, flags) };
        self.check("pam_acct_mgmt", code)
    }
}

impl<C> Drop for Transaction<C> {
    fn drop(&mut self) {
        // SAFETY: the handle pam_start gave, ended once.
        unsafe { (self.pam.end)(self.handle, self.last_status) };
        // SAFETY: made by Box::into_raw in `Pam::start`; PAM no longer
        // calls the conversation after pam_end.
        drop(unsafe { Box::from_raw(self.conversation) });
    }
}

/// What answers PAM's messages. An answer of `None` to a prompt fails the
/// conversation (`PAM_CONV_ERR`).
pub(crate) trait Conversation {
    /// A visible prompt (usually the user name).
    fn prompt_echo_on(&mut self, prompt: &CStr) -> Option<CString>;
    /// A hidden prompt (a password, a one-time code).
    fn prompt_echo_off(&mut self, prompt: &CStr) -> Option<CString>;
    /// Something to show the user.
    fn text_info(&mut self, message: &CStr);
    /// An error to show the user.
    fn error_msg(&mut self, message: &CStr);
}

/// The `struct pam_conv` function: answers each message through the
/// [`Conversation`] at `appdata_ptr`, in memory PAM frees with `free`.
/// Other message styles (Linux-PAM's radio and binary prompts) fail the
/// conversation, as does a panic.
unsafe extern "C" fn converse<C: Conversation>(
    num_msg: c_int,
    msg: *mut *const Message,
    resp: *mut *mut Response,
    appdata_ptr: *mut c_void,
) -> c_int {
    if msg.is_null() || resp.is_null() || appdata_ptr.is_null() {
        return Code::CONV_ERR.0;
    }
    let count = match usize::try_from(num_msg) {
        Ok(n) if (1..=MAX_NUM_MSG).contains(&n) => n,
        _ => return Code::CONV_ERR.0,
    };
    let answers = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `appdata_ptr` is the conversation `Pam::start` boxed,
        // reached by nothing else while PAM runs.
        let conversation = unsafe { &mut *appdata_ptr.cast::<C>() };
        let mut answers = Vec::with_capacity(count);
        for i in 0..count {
            // SAFETY: PAM passes `num_msg` valid message pointers.
            let message = unsafe { *msg.add(i) };
            if message.is_null() {
                return None;
            }
            // SAFETY: as above.
            let message = unsafe { &*message };
            let text = if message.msg.is_null() {
                c""
            } else {
                // SAFETY: PAM's messages are NUL-terminated strings.
                unsafe { CStr::from_ptr(message.msg) }
            };
            let answer = match message.msg_style {
                PROMPT_ECHO_ON => Some(conversation.prompt_echo_on(text)?),
                PROMPT_ECHO_OFF => Some(conversation.prompt_echo_off(text)?),
                TEXT_INFO => {
                    conversation.text_info(text);
                    None
                }
                ERROR_MSG => {
                    conversation.error_msg(text);
                    None
                }
                _ => return None,
            };
            answers.push(answer);
        }
        Some(answers)
    }));
    let Ok(Some(answers)) = answers else {
        return Code::CONV_ERR.0;
    };
    // SAFETY: plain allocations of the C library, handed to PAM, which
    // frees them with free(); freed here when one fails.
    unsafe {
        let responses = libc::calloc(count, size_of::<Response>()).cast::<Response>();
        if responses.is_null() {
            return Code::BUF_ERR.0;
        }
        for (i, answer) in answers.iter().enumerate() {
            let Some(answer) = answer else { continue };
            let copy = libc::strdup(answer.as_ptr());
            if copy.is_null() {
                free_responses(responses, i);
                return Code::BUF_ERR.0;
            }
            (*responses.add(i)).resp = copy;
        }
        *resp = responses;
    }
    Code::SUCCESS.0
}

/// Frees the first `count` responses of `responses` and the array,
/// overwriting the answers (a password) first.
///
/// # Safety
///
/// `responses` is an array of at least `count` responses allocated with
/// the C library, their `resp` null or allocated with it too.
unsafe fn free_responses(responses: *mut Response, count: usize) {
    for i in 0..count {
        // SAFETY: the caller's promise.
        unsafe {
            let answer = (*responses.add(i)).resp;
            if !answer.is_null() {
                ptr::write_bytes(answer, 0, libc::strlen(answer));
                libc::free(answer.cast());
            }
        }
    }
    // SAFETY: the caller's promise.
    unsafe { libc::free(responses.cast()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers visible prompts with "name", hidden ones with "secret"
    /// once, and records what it was told.
    #[derive(Default)]
    struct Script {
        hidden_answered: bool,
        told: Vec<String>,
    }

    impl Conversation for Script {
        fn prompt_echo_on(&mut self, _prompt: &CStr) -> Option<CString> {
            Some(c"name".to_owned())
        }
        fn prompt_echo_off(&mut self, _prompt: &CStr) -> Option<CString> {
            if std::mem::replace(&mut self.hidden_answered, true) {
                None
            } else {
                Some(c"secret".to_owned())
            }
        }
        fn text_info(&mut self, message: &CStr) {
            self.told
                .push(format!("info {}", message.to_string_lossy()));
        }
        fn error_msg(&mut self, message: &CStr) {
            self.told
                .push(format!("error {}", message.to_string_lossy()));
        }
    }

    /// Runs `converse` as PAM would; returns its code and the answers.
    fn run(script: &mut Script, messages: &[(c_int, &CStr)]) -> (c_int, Vec<Option<String>>) {
        let messages: Vec<Message> = messages
            .iter()
            .map(|(style, text)| Message {
                msg_style: *style,
                msg: text.as_ptr(),
            })
            .collect();
        let mut pointers: Vec<*const Message> = messages.iter().map(|m| m as *const _).collect();
        let mut responses: *mut Response = ptr::null_mut();
        // SAFETY: what PAM passes: an array of message pointers, and the
        // conversation's own pointer.
        let code = unsafe {
            converse::<Script>(
                pointers.len() as c_int,
                pointers.as_mut_ptr(),
                &mut responses,
                (script as *mut Script).cast(),
            )
        };
        let mut answers = Vec::new();
        if code == Code::SUCCESS.0 {
            assert!(!responses.is_null());
            for i in 0..messages.len() {
                // SAFETY: converse filled `messages.len()` responses.
                let r = unsafe { &*responses.add(i) };
                assert_eq!(r.resp_retcode, 0);
                answers.push((!r.resp.is_null()).then(|| {
                    // SAFETY: strdup'd strings.
                    unsafe { CStr::from_ptr(r.resp) }
                        .to_string_lossy()
                        .into_owned()
                }));
            }
            // SAFETY: as PAM frees them.
            unsafe { free_responses(responses, messages.len()) };
        } else {
            assert!(responses.is_null());
        }
        (code, answers)
    }

    #[test]
    fn conversation_answers_each_message() {
        let mut script = Script::default();
        let (code, answers) = run(
            &mut script,
            &[
                (TEXT_INFO, c"hello"),
                (PROMPT_ECHO_ON, c"login:"),
                (PROMPT_ECHO_OFF, c"Password:"),
                (ERROR_MSG, c"careful"),
            ],
        );
        assert_eq!(code, Code::SUCCESS.0);
        assert_eq!(
            answers,
            [None, Some("name".into()), Some("secret".into()), None]
        );
        assert_eq!(script.told, ["info hello", "error careful"]);
    }

    #[test]
    fn conversation_failures() {
        // A second hidden prompt, even in the same call.
        let mut script = Script::default();
        let (code, _) = run(
            &mut script,
            &[(PROMPT_ECHO_OFF, c"Password:"), (PROMPT_ECHO_OFF, c"OTP:")],
        );
        assert_eq!(code, Code::CONV_ERR.0);
        // Radio and binary prompts are not answered.
        for style in [5, 7, 99] {
            let (code, _) = run(&mut Script::default(), &[(style, c"?")]);
            assert_eq!(code, Code::CONV_ERR.0, "style {style}");
        }
        // No messages, or too many.
        assert_eq!(run(&mut Script::default(), &[]).0, Code::CONV_ERR.0);
        let many = vec![(TEXT_INFO, c"x"); MAX_NUM_MSG + 1];
        assert_eq!(run(&mut Script::default(), &many).0, Code::CONV_ERR.0);
    }

    #[test]
    fn codes_have_names() {
        assert_eq!(Code::SUCCESS.name(), "PAM_SUCCESS");
        assert_eq!(Code(7).name(), "PAM_AUTH_ERR");
        assert_eq!(Code::CONV_ERR.name(), "PAM_CONV_ERR");
        assert_eq!(Code(31).name(), "PAM_INCOMPLETE");
        assert_eq!(Code(32).name(), "unknown PAM error");
        assert_eq!(Code(-1).name(), "unknown PAM error");
    }

    #[test]
    fn a_missing_library_is_a_clear_error() {
        let err = Pam::load(&["libferroftpd-no-such-pam.so.0"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("libferroftpd-no-such-pam.so.0"), "{text}");
        assert!(text.contains("libpam0g"), "{text}");
        // The loader's reason, not only "dlopen failed".
        assert!(text.contains("No such file"), "{text}");
    }

    /// Against the system's libpam: an unknown user of a service that
    /// does not exist (PAM then uses `other`) is refused with a typed
    /// error, and nothing leaks or crashes on the way.
    #[test]
    fn libpam_refuses_an_unknown_user() {
        let pam = Pam::get().expect("libpam is installed");
        let mut transaction = pam
            .start(
                "ferroftpd-test-no-such-service",
                "ferroftpd-no-such-user",
                Script::default(),
            )
            .unwrap();
        transaction.set_item(Item::Rhost, "192.0.2.1").unwrap();
        transaction.set_item(Item::Tty, "ftp").unwrap();
        let err = transaction
            .authenticate(DISALLOW_NULL_AUTHTOK)
            .expect_err("no such user");
        assert_eq!(err.function, "pam_authenticate");
        assert_ne!(err.code, Code::SUCCESS);
        assert!(!err.message.is_empty());
        assert!(err.to_string().contains("PAM_"), "{err}");
        let nul = pam
            .start("ferroftpd", "a\0b", Script::default())
            .unwrap_err();
        assert_eq!(nul.code, Code::BUF_ERR);
    }
}
