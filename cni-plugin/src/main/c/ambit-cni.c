/*
 * ambit-cni: the chained CNI plugin (CNI spec 1.0.0; configs of cniVersion 0.3.1 to 1.0.0)
 * that keeps a pod from starting before its node agent has captured it, as Istio's CNI
 * plugin does for ztunnel.
 *
 * The runtime runs it after the interface plugin (it needs prevResult): on ADD it asks the
 * node agent, over the agent's enrollment socket (HTTP/1.1 + JSON on a unix socket, the
 * agent's CniServer), to enroll the pod named by CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME,
 * K8S_POD_UID) in the network namespace CNI_NETNS, sending the prevResult for its
 * addresses. The agent answers 200 when the pod is captured or is not an ambient pod (then
 * prevResult is printed unchanged); anything else (agent absent, hung past the timeout, or
 * 503: the pod is ambient but capture failed) fails the sandbox with CNI error 11 "try again
 * later", so the kubelet retries it and the pod never runs uncaptured. DEL tells the agent,
 * best effort, and always succeeds; CHECK succeeds; VERSION lists the versions.
 *
 * Plugin settings in the network config (all optional):
 *   "agent_socket":       the agent's socket (default /var/run/ambit/cni.sock)
 *   "timeout_seconds":    the whole exchange with the agent (default 5, 1..60)
 *   "log_level":          "error" (default), "warn", "info" or "debug"; to stderr
 *   "exclude_namespaces": namespaces never sent to the agent (the agent's own, kube-system)
 *
 * After the agent enrolled a pod, the plugin sets net.ipv4.tcp_migrate_req=1 in the pod's network
 * namespace (Linux 5.14+): a later agent takes the pod's SO_REUSEPORT listeners over, and the
 * connections queued on the old agent's then move instead of being reset. The agent sets it too,
 * but in its non-privileged container /proc/sys is read-only; the runtime runs this plugin as
 * root on the host. Failing to set it (older kernel) is logged, never fatal.
 *
 * Dependency-free on purpose (it runs for every pod of the node): libc only, linked
 * statically when the C library allows. JSON is scanned, not modelled: the plugin only
 * needs a few top-level strings and the span of prevResult, which it forwards verbatim.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_STDIN (1 << 20)
#define MAX_RESPONSE (64 * 1024)
#define MAX_STR 4096
#define DEFAULT_SOCKET "/var/run/ambit/cni.sock"

/* CNI error codes (spec, "Error"). */
enum { E_VERSION = 1, E_ENV = 4, E_IO = 5, E_DECODE = 6, E_CONFIG = 7, E_AGAIN = 11, E_REJECTED = 100 };

static const char *SUPPORTED[] = {"0.3.1", "0.4.0", "1.0.0"};

static int log_level = 0; /* 0 error, 1 warn, 2 info, 3 debug */
static char cni_version[32] = "1.0.0";

static void logf_(int level, const char *fmt, ...) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (level > log_level) return;
    fprintf(stderr, "ambit-cni %s: ", names[level]);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Writes s as a JSON string (quotes included). */
static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        switch (*p) {
            case '"': fputs("\\\"", out); break;
            case '\\': fputs("\\\\", out); break;
            case '\n': fputs("\\n", out); break;
            case '\r': fputs("\\r", out); break;
            case '\t': fputs("\\t", out); break;
            default:
                if (*p < 0x20) fprintf(out, "\\u%04x", *p); else fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* Prints the CNI error object on stdout and exits 1 (spec: "Error" result). */
static void fail(int code, const char *msg, const char *details) {
    logf_(0, "%s: %s", msg, details ? details : "");
    fputs("{\"cniVersion\":", stdout);
    json_string(stdout, cni_version);
    printf(",\"code\":%d,\"msg\":", code);
    json_string(stdout, msg);
    if (details && *details) {
        fputs(",\"details\":", stdout);
        json_string(stdout, details);
    }
    fputs("}\n", stdout);
    fflush(stdout);
    exit(1);
}

/* ------------------------------------------------------------------ JSON scanning */

static const char *ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* End of the string starting at p (on its opening quote), or NULL if malformed. */
static const char *skip_string(const char *p, const char *end) {
    if (p >= end || *p != '"') return NULL;
    for (p++; p < end; p++) {
        if (*p == '\\') {
            if (++p >= end) return NULL;
        } else if (*p == '"') {
            return p + 1;
        } else if ((unsigned char) *p < 0x20) {
            return NULL;
        }
    }
    return NULL;
}

/* End of the JSON value starting at p, or NULL if malformed (depth-limited). */
static const char *skip_value(const char *p, const char *end, int depth) {
    p = ws(p, end);
    if (p >= end || depth > 64) return NULL;
    if (*p == '"') return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = ws(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            if (close == '}') {
                p = skip_string(ws(p, end), end);
                if (!p) return NULL;
                p = ws(p, end);
                if (p >= end || *p != ':') return NULL;
                p++;
            }
            p = skip_value(p, end, depth + 1);
            if (!p) return NULL;
            p = ws(p, end);
            if (p < end && *p == ',') { p++; continue; }
            if (p < end && *p == close) return p + 1;
            return NULL;
        }
    }
    const char *start = p;
    while (p < end && (strchr("+-.eE", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z'))) p++;
    size_t n = (size_t) (p - start);
    if (n == 0) return NULL;
    if ((n == 4 && !strncmp(start, "true", 4)) || (n == 5 && !strncmp(start, "false", 5))
        || (n == 4 && !strncmp(start, "null", 4))) return p;
    char *num_end;
    char buf[64];
    if (n >= sizeof buf) return NULL;
    memcpy(buf, start, n);
    buf[n] = 0;
    strtod(buf, &num_end);
    return *num_end == 0 && (buf[0] == '-' || (buf[0] >= '0' && buf[0] <= '9')) ? p : NULL;
}

/* Decodes the JSON string at p into out (plain characters and simple escapes; \u as '?'
 * unless ASCII). Returns 0, or -1 if malformed or longer than cap. */
static int decode_string(const char *p, const char *end, char *out, size_t cap) {
    const char *e = skip_string(p, end);
    if (!e) return -1;
    size_t n = 0;
    for (p++; p < e - 1; p++) {
        char c = *p;
        if (c == '\\') {
            c = *++p;
            switch (c) {
                case 'n': c = '\n'; break;
                case 't': c = '\t'; break;
                case 'r': c = '\r'; break;
                case 'b': c = '\b'; break;
                case 'f': c = '\f'; break;
                case 'u': {
                    unsigned v = 0;
                    if (e - 1 - p < 5 || sscanf(p + 1, "%4x", &v) != 1) return -1;
                    p += 4;
                    c = v < 0x80 && v > 0 ? (char) v : '?';
                    break;
                }
                default: break; /* \" \\ \/ */
            }
        }
        if (n + 1 >= cap) return -1;
        out[n++] = c;
    }
    out[n] = 0;
    return 0;
}

/* The span of top-level member `key` of the object [p, end) in vstart and vend: 1 if found, 0 if
 * absent, -1 if the text is not one JSON object. */
static int member(const char *p, const char *end, const char *key, const char **vstart, const char **vend) {
    p = ws(p, end);
    if (p >= end || *p != '{') return -1;
    p = ws(p + 1, end);
    if (p < end && *p == '}') return 0;
    int found = 0;
    char name[256];
    for (;;) {
        p = ws(p, end);
        const char *kend = skip_string(p, end);
        if (!kend) return -1;
        int named = decode_string(p, end, name, sizeof name) == 0 && strcmp(name, key) == 0;
        p = ws(kend, end);
        if (p >= end || *p != ':') return -1;
        const char *v = ws(p + 1, end);
        p = skip_value(v, end, 1);
        if (!p) return -1;
        if (named && !found) {
            *vstart = v;
            *vend = p;
            found = 1;
        }
        p = ws(p, end);
        if (p < end && *p == ',') { p++; continue; }
        if (p < end && *p == '}') return ws(p + 1, end) == end || found ? found : -1;
        return -1;
    }
}

/* Reads string member `key` into out; 1 found, 0 absent; a wrong type fails the call. */
static int string_member(const char *conf, const char *end, const char *key, char *out, size_t cap) {
    const char *v, *ve;
    if (member(conf, end, key, &v, &ve) != 1) return 0;
    if (*v != '"' || decode_string(v, ve, out, cap) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s: expected a string", key);
        fail(E_CONFIG, "invalid network configuration", msg);
    }
    return 1;
}

/* ------------------------------------------------------------------ the agent */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits for fd to be ready for `events` until the deadline: 0 ready, -1 timed out or failed. */
static int wait_fd(int fd, short events, double deadline) {
    for (;;) {
        int left = (int) ((deadline - now_s()) * 1000);
        if (left <= 0) { errno = ETIMEDOUT; return -1; }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, left);
        if (r > 0) return 0;
        if (r == 0) { errno = ETIMEDOUT; return -1; }
        if (errno != EINTR) return -1;
    }
}

/* POSTs body to path on the agent's socket; returns the HTTP status and the response body in
 * *resp (NUL-terminated), or -1 with errno-based text in err. Bounded by the deadline. */
static int post(const char *sock, const char *path, const char *body, size_t len, double deadline, char *resp,
                size_t cap, char *err, size_t errcap) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(sock) >= sizeof addr.sun_path) {
        snprintf(err, errcap, "socket path %s is too long (limit %zu bytes)", sock, sizeof addr.sun_path - 1);
        return -1;
    }
    strcpy(addr.sun_path, sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errcap, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *) &addr, sizeof addr) != 0
        && !(errno == EINPROGRESS || errno == EAGAIN)) {
        snprintf(err, errcap, "cannot connect to the node agent at %s: %s (is the agent running on this node?)",
                 sock, strerror(errno));
        close(fd);
        return -1;
    }
    char head[512];
    int hn = snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: ambit-agent\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n", path, len);
    const char *parts[2] = {head, body};
    size_t sizes[2] = {(size_t) hn, len};
    for (int i = 0; i < 2; i++) {
        size_t off = 0;
        while (off < sizes[i]) {
            ssize_t w = send(fd, parts[i] + off, sizes[i] - off, MSG_NOSIGNAL);
            if (w > 0) { off += (size_t) w; continue; }
            if (w < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, deadline) == 0) continue;
            snprintf(err, errcap, "sending to the node agent at %s: %s", sock,
                     errno == ETIMEDOUT ? "timed out" : strerror(errno));
            close(fd);
            return -1;
        }
    }
    size_t n = 0;
    for (;;) {
        if (n + 1 >= cap) break;
        ssize_t r = recv(fd, resp + n, cap - 1 - n, 0);
        if (r > 0) { n += (size_t) r; continue; }
        if (r == 0) break;
        if ((errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLIN, deadline) == 0) continue;
        snprintf(err, errcap, "waiting for the node agent at %s: %s", sock,
                 errno == ETIMEDOUT ? "no answer before the timeout" : strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    resp[n] = 0;
    int status;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
        snprintf(err, errcap, "the node agent at %s answered no HTTP response", sock);
        return -1;
    }
    char *b = strstr(resp, "\r\n\r\n");
    memmove(resp, b ? b + 4 : resp + n, strlen(b ? b + 4 : resp + n) + 1);
    return status;
}

/* ------------------------------------------------------------------ the plugin */

struct args {
    char ns[256], name[256], uid[130];
};

/* CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web-1;K8S_POD_UID=..." */
static void parse_cni_args(const char *s, struct args *a) {
    memset(a, 0, sizeof *a);
    while (s && *s) {
        const char *semi = strchr(s, ';');
        size_t len = semi ? (size_t) (semi - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        if (eq) {
            size_t kl = (size_t) (eq - s), vl = len - kl - 1;
            char *dst = NULL;
            size_t cap = 0;
            if (kl == 17 && !strncmp(s, "K8S_POD_NAMESPACE", kl)) { dst = a->ns; cap = sizeof a->ns; }
            else if (kl == 12 && !strncmp(s, "K8S_POD_NAME", kl)) { dst = a->name; cap = sizeof a->name; }
            else if (kl == 11 && !strncmp(s, "K8S_POD_UID", kl)) { dst = a->uid; cap = sizeof a->uid; }
            if (dst && vl < cap) { memcpy(dst, eq + 1, vl); dst[vl] = 0; }
        }
        s = semi ? semi + 1 : NULL;
    }
}

static int supported(const char *v) {
    for (size_t i = 0; i < sizeof SUPPORTED / sizeof *SUPPORTED; i++) {
        if (!strcmp(v, SUPPORTED[i])) return 1;
    }
    return 0;
}

/* Whether `ns` is in the config's exclude_namespaces array. */
static int excluded(const char *conf, const char *end, const char *ns) {
    const char *v, *ve;
    if (member(conf, end, "exclude_namespaces", &v, &ve) != 1) return 0;
    if (*v != '[') fail(E_CONFIG, "invalid network configuration", "exclude_namespaces: expected an array of names");
    const char *p = ws(v + 1, ve);
    char item[256];
    while (p < ve && *p != ']') {
        const char *e = skip_string(p, ve);
        if (!e || decode_string(p, ve, item, sizeof item) != 0) {
            fail(E_CONFIG, "invalid network configuration", "exclude_namespaces: expected an array of names");
        }
        if (!strcmp(item, ns)) return 1;
        p = ws(e, ve);
        if (p < ve && *p == ',') p = ws(p + 1, ve);
    }
    return 0;
}

static const char *env(const char *name, int required) {
    const char *v = getenv(name);
    if (required && (!v || !*v)) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s is not set (expected: set by the container runtime)", name);
        fail(E_ENV, "missing CNI environment variable", msg);
    }
    return v ? v : "";
}

/* Builds the request body: identity, netns and the prevResult span verbatim. */
static char *request_body(const struct args *a, const char *netns, const char *container, const char *ifname,
                          const char *prev, size_t prev_len, size_t *len) {
    char *buf = NULL;
    FILE *out = open_memstream(&buf, len);
    if (!out) fail(E_IO, "out of memory", NULL);
    fputs("{\"namespace\":", out);
    json_string(out, a->ns);
    fputs(",\"name\":", out);
    json_string(out, a->name);
    if (a->uid[0]) {
        fputs(",\"uid\":", out);
        json_string(out, a->uid);
    }
    if (netns) {
        fputs(",\"netns\":", out);
        json_string(out, netns);
    }
    fputs(",\"containerId\":", out);
    json_string(out, container);
    if (ifname) {
        fputs(",\"ifname\":", out);
        json_string(out, ifname);
    }
    if (prev) {
        fputs(",\"prevResult\":", out);
        fwrite(prev, 1, prev_len, out);
    }
    fputs("}", out);
    fclose(out);
    return buf;
}

/*
 * Enters the pod's network namespace (the plugin has nothing left to do on the host's) and
 * writes the sysctl there: /proc/sys/net is resolved against the opener's namespace.
 */
static void migrate_requests(const char *netns, const char *pod) {
    static const char sysctl[] = "/proc/sys/net/ipv4/tcp_migrate_req";
    int ns = open(netns, O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
        logf_(1, "ADD %s: net.ipv4.tcp_migrate_req not set: cannot enter %s: %s", pod, netns, strerror(errno));
        if (ns >= 0) close(ns);
        return;
    }
    close(ns);
    int fd = open(sysctl, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "1\n", 2) != 2) {
        logf_(1, "ADD %s: net.ipv4.tcp_migrate_req not set (%s: %s; expected: Linux 5.14+); a hand-over to a"
              " later agent may reset connections queued on the old one's listeners", pod, sysctl, strerror(errno));
    } else {
        logf_(3, "ADD %s: net.ipv4.tcp_migrate_req=1 in %s", pod, netns);
    }
    if (fd >= 0) close(fd);
}

int main(void) {
    const char *command = env("CNI_COMMAND", 1);
    if (!strcmp(command, "VERSION")) {
        /* The config on stdin (if any) is not needed to answer. */
        printf("{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[");
        for (size_t i = 0; i < sizeof SUPPORTED / sizeof *SUPPORTED; i++) printf("%s\"%s\"", i ? "," : "", SUPPORTED[i]);
        printf("]}\n");
        return 0;
    }

    static char conf[MAX_STDIN + 1];
    size_t n = fread(conf, 1, MAX_STDIN + 1, stdin);
    if (n > MAX_STDIN) fail(E_DECODE, "network configuration too large", "more than 1 MiB on stdin");
    conf[n] = 0;
    const char *end = conf + n;
    const char *v, *ve;
    if (member(conf, end, "cniVersion", &v, &ve) < 0) {
        fail(E_DECODE, "cannot decode the network configuration", "stdin is not one JSON object");
    }
    char version[32];
    if (!string_member(conf, end, "cniVersion", version, sizeof version)) {
        fail(E_CONFIG, "invalid network configuration", "cniVersion: missing");
    }
    if (!supported(version)) {
        char msg[128];
        snprintf(msg, sizeof msg, "cniVersion %s (expected: 0.3.1, 0.4.0 or 1.0.0)", version);
        fail(E_VERSION, "incompatible CNI version", msg);
    }
    strcpy(cni_version, version);

    char level[16] = "";
    if (string_member(conf, end, "log_level", level, sizeof level)) {
        log_level = !strcmp(level, "debug") ? 3 : !strcmp(level, "info") ? 2 : !strcmp(level, "warn") ? 1 : 0;
    }
    char sock[MAX_STR] = DEFAULT_SOCKET;
    string_member(conf, end, "agent_socket", sock, sizeof sock);
    double timeout = 5;
    if (member(conf, end, "timeout_seconds", &v, &ve) == 1) {
        char num[32] = "";
        size_t l = (size_t) (ve - v) < sizeof num ? (size_t) (ve - v) : sizeof num - 1;
        memcpy(num, v, l);
        char *e;
        timeout = strtod(num, &e);
        if (*e || timeout < 1 || timeout > 60) {
            fail(E_CONFIG, "invalid network configuration", "timeout_seconds: expected a number from 1 to 60");
        }
    }

    if (!strcmp(command, "CHECK")) return 0; /* capture is the agent's to keep: nothing to check here */
    if (strcmp(command, "ADD") && strcmp(command, "DEL")) {
        char msg[128];
        snprintf(msg, sizeof msg, "CNI_COMMAND %.40s (expected: ADD, DEL, CHECK or VERSION)", command);
        fail(E_ENV, "unsupported CNI command", msg);
    }
    const char *container = env("CNI_CONTAINERID", 1);
    struct args a;
    parse_cni_args(getenv("CNI_ARGS"), &a);
    double deadline = now_s() + timeout;
    static char resp[MAX_RESPONSE];
    char err[512];

    if (!strcmp(command, "DEL")) {
        /* Best effort: the pod is going whatever the agent says; the agent also forgets pods
         * whose namespace is gone. CNI_NETNS may be empty on DEL. */
        if (a.ns[0] && a.name[0] && !excluded(conf, end, a.ns)) {
            size_t len;
            char *body = request_body(&a, NULL, container, NULL, NULL, 0, &len);
            int status = post(sock, "/v1/pods/del", body, len, deadline, resp, sizeof resp, err, sizeof err);
            if (status != 200) logf_(1, "DEL %s/%s: %s", a.ns, a.name, status < 0 ? err : resp);
            free(body);
        }
        return 0;
    }

    /* ADD */
    const char *netns = env("CNI_NETNS", 1);
    const char *ifname = env("CNI_IFNAME", 1);
    int has_prev = member(conf, end, "prevResult", &v, &ve) == 1;
    if (!has_prev || *v != '{') {
        fail(E_CONFIG, "ambit-cni must be chained after an interface plugin",
             "prevResult: missing (expected: the result of the plugins before it in the conflist)");
    }
    if (!a.ns[0] || !a.name[0] || excluded(conf, end, a.ns)) {
        logf_(2, "ADD %s: %s", container, a.ns[0] ? "namespace excluded" : "not a Kubernetes pod (no K8S_POD_NAME)");
        fwrite(v, 1, (size_t) (ve - v), stdout);
        fputc('\n', stdout);
        return 0;
    }
    size_t len;
    char *body = request_body(&a, netns, container, ifname, v, (size_t) (ve - v), &len);
    int status = post(sock, "/v1/pods/add", body, len, deadline, resp, sizeof resp, err, sizeof err);
    free(body);
    char what[600];
    if (status == 200) {
        logf_(2, "ADD %s/%s: %s", a.ns, a.name, resp);
        char result[32] = "";
        if (string_member(resp, resp + strlen(resp), "result", result, sizeof result) == 1
                && !strcmp(result, "enrolled")) {
            snprintf(what, sizeof what, "%s/%s", a.ns, a.name);
            migrate_requests(netns, what);
        }
        fwrite(v, 1, (size_t) (ve - v), stdout);
        fputc('\n', stdout);
        return 0;
    }
    snprintf(what, sizeof what, "pod %s/%s: not captured by the node agent", a.ns, a.name);
    if (status < 0) fail(E_AGAIN, what, err);
    /* The agent's {"error": "..."}: passed on as the details. */
    const char *rend = resp + strlen(resp);
    char detail[MAX_STR];
    if (string_member(resp, rend, "error", detail, sizeof detail) != 1) {
        snprintf(detail, sizeof detail, "HTTP %d from the node agent", status);
    }
    fail(status == 400 ? E_REJECTED : E_AGAIN, what, detail);
}
