/* executors/wire.h — the wire protocol between the interchange (inside the engine)
 * and parsl-worker pools: frames, messages, and the authenticated connection.
 *
 * docs/wire.md is the specification; this header is its C face, and
 * tests/unit/wire.c pins the two together with golden bytes. Three layers:
 *
 *   frames    (wire_frame.c)  a 12-byte header and a body, capped per type; a
 *                             resumable reader that takes any split of bytes.
 *   messages  (wire_msg.c)    msgpack bodies (lists with fixed positions, through
 *                             common/value.h) to and from the C structs below,
 *                             with every position's type and range checked.
 *   connection (wire_auth.c)  one side of one TCP connection: the handshake
 *                             state machine, the secret-based authentication,
 *                             and the optional sealing of every frame.
 *
 * The library does no I/O: callers hand it the bytes they read and send the bytes
 * it appends to a buffer. Nothing here prints or keeps global state. Functions
 * return 0 (or a count) on success and -1 with errno and cp_err text on failure.
 *
 * Threads: a reader, a buffer or a message belongs to one thread at a time. A
 * connection may be used from two threads at once — one calling the receiving
 * functions, one calling the sending functions — because each half has its own
 * lock; two threads sending on one connection must agree on an order themselves,
 * since frames must reach the socket in the order they were sealed.
 *
 * Lower layer: includes only the public header and common/.
 */
#ifndef CP_EXECUTORS_WIRE_H
#define CP_EXECUTORS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/value.h"

/* ------------------------------------------------------------------ constants */

#define CP_WIRE_MAGIC        0x43505752u   /* "CPWR", network order on the wire */
#define CP_WIRE_VERSION      3             /* this side's protocol version (2: INTERRUPT,
                                             * hosted tasks; 3: RESOURCES) */
#define CP_WIRE_HEADER_LEN   12            /* magic u32 | version u8 | type u8 | flags u16 | length u32 */
#define CP_WIRE_FLAG_SEALED  0x0001u       /* the body is crypto_secretbox-sealed */
#define CP_WIRE_FLAGS_KNOWN  CP_WIRE_FLAG_SEALED

#define CP_WIRE_SECRET_LEN   32            /* the per-run secret */
#define CP_WIRE_NONCE_LEN    32            /* handshake nonces */
#define CP_WIRE_PROOF_LEN    32            /* crypto_auth (HMAC-SHA-512-256) tags */
#define CP_WIRE_SEAL_OVERHEAD 16           /* crypto_secretbox_MACBYTES */
/* Where a pool finds the secret when no secret file is given (docs/wire.md,
 * "Handing the secret to pools"): 64 hex digits. */
#define CP_WIRE_SECRET_ENV   "CPARSL_WIRE_SECRET"

/* Caps on a frame's plaintext body, by message type (the table is
 * cp__wire_type_info). A sealed body may be CP_WIRE_SEAL_OVERHEAD bytes longer.
 * Everything that may cross before authentication is at most 4 KiB. */
#define CP_WIRE_CAP_HELLO     256u          /* CLIENT_HELLO, SERVER_HELLO */
#define CP_WIRE_CAP_REGISTER  4096u
#define CP_WIRE_CAP_CONTROL   1024u         /* WELCOME, REFUSE, SHUTDOWN, HOLD */
#define CP_WIRE_CAP_HEARTBEAT 256u          /* HEARTBEAT, DRAIN */
#define CP_WIRE_CAP_BATCH     (64u << 20)   /* TASKS, RESULTS */
#define CP_WIRE_CAP_RESOURCES (4u << 20)    /* RESOURCES */

/* Message types; the byte in the header. Codes stay below 32 (reader masks). The
 * codes and body layouts of CLIENT_HELLO and REFUSE never change in any version,
 * so any two versions can at least refuse each other legibly. */
enum cp__wire_type {
    CP_WIRE_CLIENT_HELLO = 1,   /* pool → interchange: version, client nonce */
    CP_WIRE_SERVER_HELLO = 2,   /* interchange → pool: server nonce, proof */
    CP_WIRE_REGISTER = 3,       /* pool → interchange: proof, then the pool's facts */
    CP_WIRE_WELCOME = 4,        /* interchange → pool: handshake done (sealed if encrypted) */
    CP_WIRE_REFUSE = 5,         /* either way, any time: why, then the connection closes */
    CP_WIRE_TASKS = 16,         /* interchange → pool: a batch of tries */
    CP_WIRE_RESULTS = 17,       /* pool → interchange: a batch of outcomes */
    CP_WIRE_HEARTBEAT = 18,     /* either way: counters */
    CP_WIRE_DRAIN = 19,         /* pool → interchange: send me no more work */
    CP_WIRE_SHUTDOWN = 20,      /* interchange → pool: exit (now, or drained) */
    CP_WIRE_HOLD = 21,          /* interchange → pool: no work will come (scale-in), or released */
    CP_WIRE_INTERRUPT = 22,     /* interchange → pool: fail every try you hold, ending what runs */
    CP_WIRE_RESOURCES = 23,     /* pool → interchange: resource samples of its tries */
};

/* Which side a connection object plays; also the sender bits of the type table. */
enum cp__wire_role { CP_WIRE_POOL = 1, CP_WIRE_INTERCHANGE = 2 };

/* Why a connection failed; the `code` of a REFUSE. Unknown codes read as PROTOCOL. */
enum cp__wire_why {
    CP_WIRE_WHY_PROTOCOL = 1,   /* bad magic, unknown type or flags, out of state, bad body */
    CP_WIRE_WHY_VERSION = 2,    /* the two sides speak different protocol versions */
    CP_WIRE_WHY_TOO_BIG = 3,    /* a frame over its type's cap */
    CP_WIRE_WHY_AUTH = 4,       /* a proof did not match: the sides hold different secrets */
    CP_WIRE_WHY_SEAL = 5,       /* a sealed frame did not open: tampered, replayed, reordered */
    CP_WIRE_WHY_POLICY = 6,     /* the peer's choice: encryption, shutting down, duplicate pool… */
    CP_WIRE_WHY_TRUNCATED = 7,  /* the connection ended inside a frame (never sent) */
};

/* SHUTDOWN modes. */
enum { CP_WIRE_SHUTDOWN_NOW = 1, CP_WIRE_SHUTDOWN_DRAINED = 2 };
/* TASKS kinds. Join apps never leave the engine. HOSTED is a native app that lives
 * in the engine's own program: `library` is that program, which a worker relaunches
 * as an app host (cp_init) to run it. */
enum { CP_WIRE_TASK_NATIVE = 1, CP_WIRE_TASK_SHELL = 2, CP_WIRE_TASK_HOSTED = 3 };

/* One row per message type. Borrowed, static. */
struct cp__wire_type_info {
    uint8_t type;
    const char *name;           /* "TASKS" */
    uint32_t cap;               /* largest plaintext body in bytes */
    uint8_t senders;            /* cp__wire_role bits: who may send it */
    bool preauth;               /* may cross before the handshake completes */
};
/* The row of type, or NULL when the type is unknown. */
const struct cp__wire_type_info *cp__wire_type_info(unsigned type);
/* The type's name, or "unknown" (static). */
const char *cp__wire_type_name(unsigned type);

/* ------------------------------------------------------------------ buffers */

/* A growable byte buffer that frames are appended to. Caller owns data (free(), or
 * cp__wire_buf_free). Start it zeroed. To reuse it after sending [0, len), set
 * len to 0; to hand the bytes to an asynchronous write, take data and zero the
 * struct. On failure a function leaves len as it found it. */
struct cp__wire_buf {
    char *data;
    size_t len, cap;
};
void cp__wire_buf_free(struct cp__wire_buf *b);
/* Makes room for n more bytes. */
int cp__wire_buf_reserve(struct cp__wire_buf *b, size_t n, cp_err *err) CP__WUR;

/* ------------------------------------------------------------------ frames */

/* Writes a header (network byte order) into h. No checks: tests and raw-byte
 * probes use it to write frames a correct peer never would. */
void cp__wire_header_put(unsigned char h[CP_WIRE_HEADER_LEN], uint8_t version, uint8_t type,
                         uint16_t flags, uint32_t len);

/* Appends one frame (header at CP_WIRE_VERSION, then len bytes of body; body may
 * be NULL when len is 0) to out. Refuses an unknown type, unknown flag bits, and a
 * body over the type's cap (EMSGSIZE) before reading the body. The body is taken
 * as it is: sealing is the connection's business (cp__wire_conn_write). */
int cp__wire_frame_encode(struct cp__wire_buf *out, uint8_t type, uint16_t flags,
                          const void *body, size_t len, cp_err *err) CP__WUR;

/* A whole frame as the reader yields it. body: len bytes, malloc'd, the caller's
 * (cp__wire_frame_clear); NULL when len is 0. */
struct cp__wire_frame {
    uint8_t version, type;
    uint16_t flags;
    uint32_t len;
    unsigned char *body;
};
void cp__wire_frame_clear(struct cp__wire_frame *f);

/* Sealing policy of a reader: whether frames must, must not, or may be sealed. */
enum { CP_WIRE_SEAL_NO = 0, CP_WIRE_SEAL_YES = 1, CP_WIRE_SEAL_EITHER = 2 };

/* The resumable frame reader of one connection. Feed it bytes split any way at
 * all (one at a time works); it yields whole frames. It checks each header field
 * as soon as its bytes are in — magic after 4 bytes, version and type after 6,
 * flags after 8, length against the type's cap after 12 — so garbage is refused
 * at once and an oversized body is refused before any of it is allocated. A body
 * is allocated as its bytes arrive (within 1 MiB or twice what came), so a
 * header that promises 64 MiB costs nothing until the bytes come. After a refusal the reader
 * stays failed and repeats the refusal.
 *
 * The policy fields may be changed between frames by the owner (the connection
 * does, on every state change); the rest is private. */
struct cp__wire_reader {
    uint32_t allow;             /* bit t set: a frame of type t may arrive now */
    uint8_t seal;               /* CP_WIRE_SEAL_* */
    uint8_t peer;               /* cp__wire_role of the sender, 0: either */
    const char *state_text;     /* why others are refused ("before authentication
                                 * (expecting CLIENT_HELLO)"); static, may be NULL */
    /* Private. */
    unsigned char hdr[CP_WIRE_HEADER_LEN];
    uint32_t hlen;              /* header bytes in */
    struct cp__wire_frame cur;  /* the frame being read (header parsed when hlen == 12) */
    uint32_t have;              /* body bytes in */
    size_t bcap;                /* bytes allocated for cur.body */
    int why;                    /* cp__wire_why of the refusal, 0 while healthy */
    int peer_version;           /* the version a VERSION refusal saw */
    cp_err fail;                /* the refusal, repeated to every later call */
};
/* A reader for frames of the types in allow (bits), sealed per seal, from any
 * peer. Nothing is allocated until bytes arrive. */
void cp__wire_reader_init(struct cp__wire_reader *r, uint32_t allow, int seal);
/* Frees a partly read body. The reader may be initialised again afterwards. */
void cp__wire_reader_clear(struct cp__wire_reader *r);
/* Consumes bytes from [data, data+len) up to the end of the next whole frame and
 * sets *used to how many it took. Returns 1 with *out filled (the caller owns its
 * body) when a frame completed — call again with the rest; 0 when every byte was
 * taken and no frame completed; -1 on a refusal (r->why says which kind), with
 * *used the bytes taken (never past the header of the refused frame). */
int cp__wire_reader_feed(struct cp__wire_reader *r, const void *data, size_t len,
                         size_t *used, struct cp__wire_frame *out, cp_err *err) CP__WUR;
/* The peer closed the connection: 0 when that happened between frames, -1
 * ("connection closed mid-frame: …", why TRUNCATED) inside one. */
int cp__wire_reader_eof(struct cp__wire_reader *r, cp_err *err) CP__WUR;

/* ------------------------------------------------------------------ messages */

/* Each message body is one msgpack array with fixed positions (docs/wire.md
 * lists them). A decoder takes the positions it knows and ignores items after
 * them, so a later revision may append fields; fewer items than known, or an item
 * of the wrong type or out of range, is refused with the position's name.
 *
 * Ownership. A decoded message (cp__wire_msg_decode, cp__wire_conn_recv) owns
 * everything its pointers reach: strings, arrays and values are borrowed from it
 * until cp__wire_msg_clear (cp__value_copy a value to keep it longer). A message
 * being sent is the caller's: every pointer is borrowed for the call only. In
 * messages to send, a NULL optional string is nil, a NULL value is nil, and NULL
 * arrays with a 0 count are empty lists.
 *
 * Fields marked "conn" are filled by the connection when it sends the message and
 * checked by it when it receives one; whatever the caller puts there is ignored. */

struct cp__wire_client_hello {
    int64_t version;                              /* conn: CP_WIRE_VERSION (0..255) */
    unsigned char nonce[CP_WIRE_NONCE_LEN];       /* conn: fresh random */
};

struct cp__wire_server_hello {
    unsigned char nonce[CP_WIRE_NONCE_LEN];       /* conn: fresh random */
    unsigned char proof[CP_WIRE_PROOF_LEN];       /* conn: see cp__wire_proof */
};

struct cp__wire_register {
    unsigned char proof[CP_WIRE_PROOF_LEN];       /* conn: see cp__wire_proof */
    const char *pool_id;        /* 1..128 bytes, unique per pool */
    const char *hostname;       /* 1..255 bytes */
    const char *block_id;       /* 0..64 bytes ("" when started by hand) */
    int64_t pid;                /* 1..INT32_MAX */
    int64_t cores;              /* the node's cores as the pool counts them, 1..INT32_MAX */
    double memory_gb;           /* the node's memory, finite, >= 0 */
    const char *const *accelerators;  /* naccelerators names, each 1..256 bytes */
    size_t naccelerators;             /* <= 1024 */
    int64_t worker_count;       /* workers started, 0..1048576 */
    int64_t max_capacity;       /* workers + prefetch, worker_count..INT32_MAX */
    bool wants_encryption;      /* conn: the pool connection's `encrypt` */
    const char *software;       /* "cparsl 0.1.0", 0..64 bytes, for logs */
};

struct cp__wire_welcome {
    unsigned char confirm[CP_WIRE_PROOF_LEN];     /* conn: binds the whole handshake */
    double heartbeat_period;    /* seconds between heartbeats, > 0 */
    double heartbeat_threshold; /* silence after which a side gives up, > 0 */
    const char *software;       /* the interchange's "cparsl 0.1.0", 0..64 bytes */
};

struct cp__wire_refuse {
    int64_t code;               /* cp__wire_why (0..255; unknown ones mean PROTOCOL) */
    const char *reason;         /* text for the other side to print, <= 900 bytes
                                 * (cp__wire_conn_refuse cuts longer text at a
                                 * UTF-8 boundary) */
    int64_t version;            /* the sender's protocol version (conn fills it
                                 * when sending through a connection) */
};

struct cp__wire_task {
    int64_t task_id;            /* >= 0 */
    int64_t try_id;             /* 0..INT32_MAX */
    int64_t kind;               /* CP_WIRE_TASK_NATIVE | _SHELL | _HOSTED */
    const char *app;            /* the app's name, 1..1024 bytes */
    const char *library;        /* native: a shared library holding the app, or NULL
                                 * for the pool's own app library; hosted: the
                                 * program to run as app host (required, absolute);
                                 * <= 4096 bytes */
    const struct cp_value *args;  /* nargs argument values (decoded: borrowed items) */
    size_t nargs;
    const char *cmd;            /* shell: the rendered command (required); native: NULL */
    const char *stdout_path;    /* NULL: none; <= 4096 bytes */
    const char *stderr_path;
    bool stdout_append, stderr_append;
    double walltime;            /* seconds, 0 for none; finite, >= 0 */
    const char *const *env;     /* nenv "NAME=value" entries (NAME non-empty) */
    size_t nenv;
    const char *const *outputs; /* noutputs declared output paths */
    size_t noutputs;
    int64_t priority;           /* lower runs first; INT32 range */
    int64_t cores;              /* resource spec, 0 when unspecified; 0..INT32_MAX */
    int64_t memory_mb;          /* resource spec, 0 when unspecified; >= 0 */
};

struct cp__wire_tasks {
    struct cp__wire_task *tasks;  /* n tasks (sending: borrowed; decoded: owned by the msg) */
    size_t n;
};

struct cp__wire_result {
    int64_t task_id;            /* >= 0 */
    int64_t try_id;             /* 0..INT32_MAX */
    bool ok;                    /* false: the try failed */
    const struct cp_value *value;  /* ok: the result (NULL sends nil); failed: must be nil */
    const char *error;          /* failed: the text (NULL allowed); ok: must be NULL */
    bool timed_out;             /* the try reached its walltime */
    double t_start, t_end;      /* epoch seconds, finite */
    int64_t worker_rank;        /* -1 when no worker ran it; -1..INT32_MAX */
};

struct cp__wire_results {
    struct cp__wire_result *results;
    size_t n;
};

struct cp__wire_heartbeat {
    int64_t free_slots;         /* all three >= 0; from an interchange they are its */
    int64_t running;            /* view of that pool, from a pool its own */
    int64_t queued;
};

struct cp__wire_shutdown {
    int64_t mode;               /* CP_WIRE_SHUTDOWN_NOW | CP_WIRE_SHUTDOWN_DRAINED */
    const char *reason;         /* NULL allowed; <= 900 bytes */
};

struct cp__wire_hold {
    bool held;                  /* true: no work will come; false: released */
};

struct cp__wire_interrupt {
    const char *reason;         /* 1..900 bytes: what the tries' errors will say */
};

/* One sample of a try: its worker process and every process below it. Times and
 * byte counts are the try's own (what the worker had used before it started is
 * taken off). */
struct cp__wire_sample {
    int64_t task_id;            /* >= 0 */
    int64_t try_id;             /* 0..INT32_MAX */
    double time;                /* epoch seconds, finite */
    int64_t pid;                /* the worker's pid, >= 0 */
    int64_t children;           /* processes below it, >= 0 */
    double user, system;        /* CPU seconds, >= 0 */
    double rss, vms;            /* bytes, >= 0 */
    double read_bytes, write_bytes;     /* storage bytes, >= 0 */
};

struct cp__wire_resources {
    struct cp__wire_sample *samples;    /* n (sending: borrowed; decoded: owned) */
    size_t n;
};

struct cp__wire_msg {
    uint8_t type;               /* cp__wire_type; 0 for none */
    union {
        struct cp__wire_client_hello client_hello;
        struct cp__wire_server_hello server_hello;
        struct cp__wire_register reg;
        struct cp__wire_welcome welcome;
        struct cp__wire_refuse refuse;
        struct cp__wire_tasks tasks;
        struct cp__wire_results results;
        struct cp__wire_heartbeat heartbeat;
        struct cp__wire_shutdown shutdown;
        struct cp__wire_hold hold;
        struct cp__wire_interrupt interrupt;
        struct cp__wire_resources resources;
    } u;                        /* DRAIN has no fields */
    /* Private: what a decoded message owns. Zero in messages built to send. */
    struct cp_value root_;
    void *mem_;
};

/* Appends the msgpack body of m (no header) to out. Refuses a message that
 * breaks a rule of its type (NULL required string, bad kind, …) with the
 * position's name, so nothing sent is something a decoder refuses. */
int cp__wire_msg_pack(const struct cp__wire_msg *m, struct cp__wire_buf *out,
                      cp_err *err) CP__WUR;
/* Decodes a body of the given type into *out, which the caller then owns
 * (cp__wire_msg_clear). On failure *out is left cleared. */
int cp__wire_msg_decode(unsigned type, const void *body, size_t len,
                        struct cp__wire_msg *out, cp_err *err) CP__WUR;
/* Releases what a decoded message owns and zeroes it. Zeroed or sent messages
 * are fine too. */
void cp__wire_msg_clear(struct cp__wire_msg *m);
/* Field-by-field equality (values deep, strings by content, NULL = nil/empty). */
bool cp__wire_msg_equal(const struct cp__wire_msg *a, const struct cp__wire_msg *b);

/* ------------------------------------------------------------------ secrets */

/* A fresh per-run secret (randombytes_buf). */
int cp__wire_secret_new(unsigned char secret[CP_WIRE_SECRET_LEN], cp_err *err) CP__WUR;
/* 64 lower-case hex digits and a NUL. */
void cp__wire_secret_hex(const unsigned char secret[CP_WIRE_SECRET_LEN], char hex[65]);
/* Exactly 64 hex digits, then optional whitespace. */
int cp__wire_secret_parse(const char *hex, unsigned char secret[CP_WIRE_SECRET_LEN],
                          cp_err *err) CP__WUR;
/* Creates path (it must not exist; not through a symlink) with mode 0600 and
 * writes the hex form and a newline. */
int cp__wire_secret_write(const char *path, const unsigned char secret[CP_WIRE_SECRET_LEN],
                          cp_err *err) CP__WUR;
/* Reads a file written by cp__wire_secret_write. Refuses a file that is not a
 * regular file, is not owned by this user, or that group or others may access. */
int cp__wire_secret_read(const char *path, unsigned char secret[CP_WIRE_SECRET_LEN],
                         cp_err *err) CP__WUR;

/* The handshake proof that `prover` knows secret, bound to both nonces (docs/wire.md
 * "Keys and proofs"). Exposed so the spec's test vector is checked. */
int cp__wire_proof(const unsigned char secret[CP_WIRE_SECRET_LEN], enum cp__wire_role prover,
                   const unsigned char client_nonce[CP_WIRE_NONCE_LEN],
                   const unsigned char server_nonce[CP_WIRE_NONCE_LEN],
                   unsigned char out[CP_WIRE_PROOF_LEN]) CP__WUR;
/* The two sealing keys of a connection (pool → interchange, interchange → pool). */
int cp__wire_session_keys(const unsigned char secret[CP_WIRE_SECRET_LEN],
                          const unsigned char client_nonce[CP_WIRE_NONCE_LEN],
                          const unsigned char server_nonce[CP_WIRE_NONCE_LEN],
                          unsigned char to_interchange[32], unsigned char to_pool[32]) CP__WUR;

/* ------------------------------------------------------------------ connections */

struct cp__wire_conn;

/* One side of one connection. secret is copied (only keys derived from it are
 * kept, wiped on destroy). encrypt: for a pool, "I want sealed frames" (a WELCOME
 * that is not sealed is then refused); for an interchange, "I require them" (the
 * connection is sealed when either side asks). Caller owns (cp__wire_conn_destroy). */
struct cp__wire_conn *cp__wire_conn_create(enum cp__wire_role role,
                                           const unsigned char secret[CP_WIRE_SECRET_LEN],
                                           bool encrypt, cp_err *err);
void cp__wire_conn_destroy(struct cp__wire_conn *c);   /* NULL is fine */

/* Feeds bytes read from the peer, like cp__wire_reader_feed: 1 with *msg filled
 * (the caller's: cp__wire_msg_clear) — call again with the rest at data + *used;
 * 0 when all was taken and no frame completed; -1 when the peer or its bytes were
 * refused, after which the connection is failed: send cp__wire_conn_refuse, then
 * close. Handshake messages are verified here (proofs, transcript) and still
 * returned, so the interchange sees REGISTER and the pool sees WELCOME. A REFUSE
 * from the peer is returned as a message and closes the connection. msg may
 * be NULL for a caller that only needs the handshake driven. */
int cp__wire_conn_recv(struct cp__wire_conn *c, const void *data, size_t len, size_t *used,
                       struct cp__wire_msg *msg, cp_err *err) CP__WUR;
/* The peer closed its end: 0 when that happened between frames (the connection
 * is then closed), -1 mid-frame (failed with TRUNCATED; cp__wire_conn_failure
 * says so). Nothing more can be received either way. */
int cp__wire_conn_eof(struct cp__wire_conn *c, cp_err *err) CP__WUR;

/* Appends msg as one frame to out (sealed when the connection is), filling the
 * "conn" fields. Refuses a type this side may not send now ("cannot send TASKS:
 * before authentication"), and a body over the type's cap (EMSGSIZE: split the
 * batch; nothing is appended). The handshake is: pool CLIENT_HELLO → interchange
 * SERVER_HELLO → pool REGISTER → interchange WELCOME; each side sends its next
 * handshake message after cp__wire_conn_recv returned the peer's. */
int cp__wire_conn_send(struct cp__wire_conn *c, const struct cp__wire_msg *msg,
                       struct cp__wire_buf *out, cp_err *err) CP__WUR;
/* The same for a body already packed (cp__wire_msg_pack), for callers that build
 * bodies elsewhere: frames and seals it. Handshake types are refused (their
 * fields come from the connection: use cp__wire_conn_send). */
int cp__wire_conn_write(struct cp__wire_conn *c, uint8_t type, const void *body, size_t len,
                        struct cp__wire_buf *out, cp_err *err) CP__WUR;
/* Appends a REFUSE and closes the connection for sending. why 0 and reason NULL
 * mean "the failure this connection saw" (after a -1 from recv/eof); a version
 * mismatch is then worded with both sides' roles ("pool speaks wire protocol 2,
 * interchange speaks 1"). Allowed in any state but closed. */
int cp__wire_conn_refuse(struct cp__wire_conn *c, int why, const char *reason,
                         struct cp__wire_buf *out, cp_err *err) CP__WUR;

/* The cp__wire_why of the connection's failure, 0 while it has none. */
int cp__wire_conn_failure(struct cp__wire_conn *c);
/* The handshake completed (WELCOME sent or verified) and nothing failed. */
bool cp__wire_conn_ready(struct cp__wire_conn *c);
/* Frames are sealed in both directions. */
bool cp__wire_conn_sealed(struct cp__wire_conn *c);

#endif
