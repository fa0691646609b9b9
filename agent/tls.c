/* tls: the TLS half of the transport (see transport.h) that needs no event
 * loop: the OpenSSL contexts, the identity in a peer's certificate, and
 * the blocking client that pgquorumctl uses. agent/transport.c puts the
 * same contexts under connections on the libuv loop.
 *
 * The happy path is: transport_init_contexts() loads the CA, the
 * certificate and its key into a server and a client context, TLS 1.3
 * only, peers verified against the CA; after a handshake,
 * tls_peer_identity() reads who the peer is from its certificate.
 *
 * Possible failure modes are: a file missing or not PEM, a key that does
 * not match its certificate (one line naming the file, nothing changed);
 * a peer certificate that does not verify (the handshake fails, and
 * tls_error() says why in the words of X.509); a certificate
 * that names two pgquorum identities, or one that does not parse (refused:
 * an identity must be unambiguous). */
#include <errno.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "lib/util.h"
#include "tls_internal.h"
#include "transport.h"

/* ---- identities --------------------------------------------------------- */

static bool valid_name(const char *s, size_t len)
{
    if (len == 0 || len >= PGQ_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.' || ch == '@')) {
            return false;
        }
    }
    return true;
}

int transport_identity_of(const char *uri,
                          const char *cn,
                          struct peer_id *out,
                          char *errmsg,
                          size_t errsize)
{
    char ip[sizeof out->ip];
    pgq_strlcpy(ip, out->ip, sizeof ip);
    memset(out, 0, sizeof *out);
    pgq_strlcpy(out->ip, ip, sizeof out->ip);
    if (uri == NULL) {
        if (cn == NULL || !valid_name(cn, strlen(cn))) {
            snprintf(errmsg, errsize, "certificate has no pgquorum URI and no usable CN%s%.64s%s",
                     cn != NULL ? " (\"" : "", cn != NULL ? cn : "", cn != NULL ? "\")" : "");
            return PGQ_INVALID;
        }
        out->kind = PEER_USER;
        snprintf(out->name, sizeof out->name, "user:%s", cn);
        return 0;
    }
    if (strncmp(uri, "pgquorum:monitor:", 17) == 0) {
        const char *p = uri + 17;
        char *end;
        unsigned long long id;
        errno = 0;
        id = strtoull(p, &end, 10);
        if (*p < '1' || *p > '9' || *end != '\0' || errno != 0 || id > PGQ_MONITOR_ID_MAX) {
            snprintf(errmsg, errsize, "certificate URI %.80s: not a monitor id 1-%d", uri,
                     PGQ_MONITOR_ID_MAX);
            return PGQ_INVALID;
        }
        out->kind = PEER_MONITOR;
        out->monitor_id = id;
        snprintf(out->name, sizeof out->name, "monitor:%llu", id);
        return 0;
    }
    if (strncmp(uri, "pgquorum:node:", 14) == 0) {
        const char *p = uri + 14, *slash = strchr(p, '/');
        if (slash == NULL || !valid_name(p, (size_t)(slash - p)) ||
            !valid_name(slash + 1, strlen(slash + 1))) {
            snprintf(errmsg, errsize, "certificate URI %.80s: not pgquorum:node:CLUSTER/NAME", uri);
            return PGQ_INVALID;
        }
        out->kind = PEER_NODE;
        memcpy(out->cluster, p, (size_t)(slash - p));
        pgq_strlcpy(out->node, slash + 1, sizeof out->node);
        snprintf(out->name, sizeof out->name, "node:%s/%s", out->cluster, out->node);
        return 0;
    }
    if (strncmp(uri, "pgquorum:user:", 14) == 0 && valid_name(uri + 14, strlen(uri + 14))) {
        out->kind = PEER_USER;
        snprintf(out->name, sizeof out->name, "user:%s", uri + 14);
        return 0;
    }
    snprintf(errmsg, errsize,
             "certificate URI %.80s: not pgquorum:monitor:ID, "
             "pgquorum:node:CLUSTER/NAME or pgquorum:user:NAME",
             uri);
    return PGQ_INVALID;
}

int tls_peer_identity(void *ssl_, struct peer_id *out, char *errmsg, size_t errsize)
{
    SSL *ssl = ssl_;
    X509 *cert = SSL_get0_peer_certificate(ssl);
    GENERAL_NAMES *names;
    char uri[256] = "", cn[PGQ_NAME_MAX + 1] = "";
    int n_uris = 0, rv;
    if (cert == NULL) {
        char ip[sizeof out->ip];
        pgq_strlcpy(ip, out->ip, sizeof ip);
        memset(out, 0, sizeof *out);
        pgq_strlcpy(out->ip, ip, sizeof out->ip);
        return 0; /* anonymous: the verify mode said whether that is allowed */
    }
    names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        const unsigned char *data;
        int len;
        if (gn->type != GEN_URI) {
            continue;
        }
        data = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
        len = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
        if (len < 9 || memcmp(data, "pgquorum:", 9) != 0) {
            continue;
        }
        if (++n_uris == 1) {
            if ((size_t)len >= sizeof uri || memchr(data, '\0', (size_t)len) != NULL) {
                GENERAL_NAMES_free(names);
                snprintf(errmsg, errsize, "certificate URI too long or not text");
                return PGQ_INVALID;
            }
            memcpy(uri, data, (size_t)len);
            uri[len] = '\0';
        }
    }
    GENERAL_NAMES_free(names);
    if (n_uris > 1) {
        snprintf(errmsg, errsize, "certificate names %d pgquorum identities: it must name one",
                 n_uris);
        return PGQ_INVALID;
    }
    if (n_uris == 0) {
        /* The CN as its bytes: one, no NUL inside (a CN "admin\0x" is not admin). */
        X509_NAME *subject = X509_get_subject_name(cert);
        int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
        const ASN1_STRING *v;
        int len;
        if (at >= 0 && X509_NAME_get_index_by_NID(subject, NID_commonName, at) >= 0) {
            snprintf(errmsg, errsize, "certificate has more than one CN and no pgquorum URI");
            return PGQ_INVALID;
        }
        v = at >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)) : NULL;
        len = v != NULL ? ASN1_STRING_length(v) : 0;
        if (v != NULL && len > 0 && (size_t)len < sizeof cn &&
            memchr(ASN1_STRING_get0_data(v), '\0', (size_t)len) == NULL) {
            memcpy(cn, ASN1_STRING_get0_data(v), (size_t)len);
            cn[len] = '\0';
            rv = 1;
        } else {
            rv = 0;
        }
        return transport_identity_of(NULL, rv > 0 ? cn : NULL, out, errmsg, errsize);
    }
    return transport_identity_of(uri, NULL, out, errmsg, errsize);
}

static const char *tls_kind_name(int kind, uint64_t id, char *buf, size_t size)
{
    switch (kind) {
        case PEER_MONITOR:
            if (id != 0) {
                snprintf(buf, size, "monitor %" PRIu64, id);
            } else {
                snprintf(buf, size, "a monitor");
            }
            break;
        case PEER_NODE:
            snprintf(buf, size, "a node agent");
            break;
        case PEER_USER:
            snprintf(buf, size, "a user");
            break;
        default:
            snprintf(buf, size, "anyone");
            break;
    }
    return buf;
}

int tls_check_want(const struct peer_id *p,
                   int want_kind,
                   uint64_t want_id,
                   char *errmsg,
                   size_t errsize)
{
    char want[64];
    if (want_kind == PEER_ANONYMOUS) {
        return 0;
    }
    if (p->kind == want_kind && (want_id == 0 || p->monitor_id == want_id)) {
        return 0;
    }
    snprintf(errmsg, errsize, "server certificate names %s, not %s",
             p->name[0] != '\0' ? p->name : "no pgquorum identity",
             tls_kind_name(want_kind, want_id, want, sizeof want));
    return PGQ_AUTH;
}

void tls_error(void *ssl_, bool handshake, const char *who, char *errmsg, size_t errsize)
{
    SSL *ssl = ssl_;
    long vr = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_last_error();
    char head[128];
    if (handshake) {
        snprintf(head, sizeof head, "TLS handshake with %s failed", who);
    } else {
        snprintf(head, sizeof head, "TLS from %s broken", who);
    }
    if (vr != X509_V_OK) {
        snprintf(errmsg, errsize, "%s: peer certificate: %s", head,
                 X509_verify_cert_error_string(vr));
    } else if (e != 0) {
        const char *reason = ERR_reason_error_string(e);
        int r = ERR_GET_REASON(e);
        bool not_tls = r == SSL_R_WRONG_VERSION_NUMBER || r == SSL_R_PACKET_LENGTH_TOO_LONG ||
                       r == SSL_R_HTTP_REQUEST;
        snprintf(errmsg, errsize, "%s: %s%s%s", head,
                 not_tls ? "the peer does not speak TLS (" : "",
                 reason != NULL ? reason : "unknown error", not_tls ? ")" : "");
    } else {
        snprintf(errmsg, errsize, "%s: connection closed", head);
    }
    ERR_clear_error();
}

/* ---- contexts ------------------------------------------------------------ */

static void ssl_error(char *errmsg, size_t errsize, const char *what, const char *file)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    snprintf(errmsg, errsize, "[tls] %s %s: %s", what, file,
             reason != NULL ? reason : "cannot be loaded");
    ERR_clear_error();
}

static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static SSL_CTX *context_new(const struct transport_settings *ts,
                            bool server,
                            char *errmsg,
                            size_t errsize)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL) {
        snprintf(errmsg, errsize, "[tls] out of memory");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    /* An encrypted key fails at once instead of asking a terminal. */
    SSL_CTX_set_default_passwd_cb(ctx, no_password);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* No session resumption: every connection proves its certificate. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (SSL_CTX_load_verify_locations(ctx, ts->ca_file, NULL) != 1) {
        ssl_error(errmsg, errsize, "ca_file", ts->ca_file);
        goto err;
    }
    if (ts->cert_file != NULL && ts->cert_file[0] != '\0') {
        if (SSL_CTX_use_certificate_chain_file(ctx, ts->cert_file) != 1) {
            ssl_error(errmsg, errsize, "cert_file", ts->cert_file);
            goto err;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, ts->key_file, SSL_FILETYPE_PEM) != 1 &&
            ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
            ssl_error(errmsg, errsize, "key_file", ts->key_file);
            goto err;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(errmsg, errsize, "[tls] key_file %s does not belong to cert_file %s",
                     ts->key_file, ts->cert_file);
            ERR_clear_error();
            goto err;
        }
    } else if (server) {
        snprintf(errmsg, errsize, "[tls] cert_file is not set");
        goto err;
    }
    if (server) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ts->ca_file);
        if (names != NULL) {
            SSL_CTX_set_client_CA_list(ctx, names);
        }
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
err:
    SSL_CTX_free(ctx);
    return NULL;
}

int transport_init_contexts(struct transport *t,
                            const struct transport_settings *ts,
                            char *errmsg,
                            size_t errsize)
{
    SSL_CTX *server, *client;
    if (!ts->tls) {
        t->tls = false;
        return 0;
    }
    if (ts->ca_file == NULL || ts->ca_file[0] == '\0') {
        snprintf(errmsg, errsize, "[tls] ca_file is not set");
        return PGQ_CONFIG;
    }
    if ((ts->cert_file == NULL || ts->cert_file[0] == '\0') !=
        (ts->key_file == NULL || ts->key_file[0] == '\0')) {
        snprintf(errmsg, errsize, "[tls] cert_file and key_file go together");
        return PGQ_CONFIG;
    }
    {
        const char *const files[][2] = {
            {"ca_file", ts->ca_file}, {"cert_file", ts->cert_file}, {"key_file", ts->key_file}};
        for (size_t i = 0; i < 3; i++) {
            if (files[i][1] != NULL && files[i][1][0] != '\0' && access(files[i][1], R_OK) != 0) {
                snprintf(errmsg, errsize, "[tls] %s %s: %s", files[i][0], files[i][1],
                         strerror(errno));
                return PGQ_CONFIG;
            }
        }
    }
    /* A client with only a CA (pgquorumctl with a token) has no server. */
    server = NULL;
    if (!ts->client_only && ts->cert_file != NULL && ts->cert_file[0] != '\0') {
        server = context_new(ts, true, errmsg, errsize);
        if (server == NULL) {
            return PGQ_CONFIG;
        }
    }
    client = context_new(ts, false, errmsg, errsize);
    if (client == NULL) {
        SSL_CTX_free(server);
        return PGQ_CONFIG;
    }
    SSL_CTX_free(t->server_ctx);
    SSL_CTX_free(t->client_ctx);
    t->server_ctx = server;
    t->client_ctx = client;
    t->tls = true;
    t->cert_days_left = INT32_MAX;
    {
        X509 *own = SSL_CTX_get0_certificate(server != NULL ? server : client);
        int days = 0, secs = 0;
        if (own != NULL && ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(own)) == 1) {
            t->cert_days_left = days;
        }
    }
    return 0;
}

void transport_free_contexts(struct transport *t)
{
    SSL_CTX_free(t->server_ctx);
    SSL_CTX_free(t->client_ctx);
    t->server_ctx = t->client_ctx = NULL;
}

/* ---- the blocking client --------------------------------------------------- */

int tsync_wait(int fd, short events, uint64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {fd, events, 0};
        uint64_t now = clock_mono_ms();
        int rv;
        if (now >= deadline) {
            return PGQ_TIMEOUT;
        }
        rv = poll(&pfd, 1, (int)(deadline - now));
        if (rv > 0) {
            return 0;
        }
        if (rv == 0) {
            return PGQ_TIMEOUT;
        }
        if (errno != EINTR) {
            return PGQ_IO;
        }
    }
}

/* Wait for what SSL asked for after a call returned rv. 0: call again;
 * PGQ_SHUTDOWN: the peer closed the session; PGQ_AUTH: TLS itself failed
 * (a certificate, an alert: s->errmsg says why); PGQ_IO: the connection
 * broke (reset, closed). */
static int ssl_wait(struct tsync *s, int rv, uint64_t deadline)
{
    int e = SSL_get_error(s->ssl, rv);
    switch (e) {
        case SSL_ERROR_WANT_READ:
            return tsync_wait(s->fd, POLLIN, deadline);
        case SSL_ERROR_WANT_WRITE:
            return tsync_wait(s->fd, POLLOUT, deadline);
        case SSL_ERROR_ZERO_RETURN:
            return PGQ_SHUTDOWN;
        case SSL_ERROR_SSL:
            tls_error(s->ssl, !SSL_is_init_finished(s->ssl), "the monitor", s->errmsg,
                      sizeof s->errmsg);
            return PGQ_AUTH;
        default:
            snprintf(s->errmsg, sizeof s->errmsg, "connection %s",
                     errno != 0 ? strerror(errno) : "closed");
            ERR_clear_error();
            return PGQ_IO;
    }
}

int tsync_open(struct transport *t,
               struct tsync *s,
               int fd,
               int want_kind,
               uint64_t want_id,
               uint64_t deadline,
               char *errmsg,
               size_t errsize)
{
    SSL *ssl;
    int rv;
    s->fd = fd;
    s->ssl = NULL;
    s->errmsg[0] = '\0';
    memset(&s->peer, 0, sizeof s->peer);
    if (!t->tls) {
        return 0;
    }
    ssl = SSL_new(t->client_ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        snprintf(errmsg, errsize, "TLS: out of memory");
        return PGQ_NOMEM;
    }
    s->ssl = ssl;
    for (;;) {
        int w;
        ERR_clear_error();
        errno = 0;
        rv = SSL_connect(ssl);
        if (rv == 1) {
            break;
        }
        w = ssl_wait(s, rv, deadline);
        if (w == 0) {
            continue;
        }
        if (w == PGQ_TIMEOUT) {
            snprintf(errmsg, errsize, "TLS handshake: no answer in time");
        } else if (w == PGQ_AUTH) {
            snprintf(errmsg, errsize, "%s", s->errmsg);
        } else {
            snprintf(errmsg, errsize, "TLS handshake: %s",
                     w == PGQ_SHUTDOWN ? "connection closed" : s->errmsg);
        }
        tsync_close(s);
        return w == PGQ_AUTH ? PGQ_AUTH : w == PGQ_TIMEOUT ? PGQ_TIMEOUT : PGQ_UNAVAILABLE;
    }
    if (tls_peer_identity(ssl, &s->peer, errmsg, errsize) != 0 ||
        tls_check_want(&s->peer, want_kind, want_id, errmsg, errsize) != 0) {
        tsync_close(s);
        return PGQ_AUTH;
    }
    return 0;
}

int tsync_write(struct tsync *s, const uint8_t *buf, size_t len, uint64_t deadline)
{
    size_t off = 0;
    while (off < len) {
        int rv;
        if (s->ssl == NULL) {
            ssize_t n = send(s->fd, buf + off, len - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t)n;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                rv = tsync_wait(s->fd, POLLOUT, deadline);
                if (rv != 0) {
                    return rv;
                }
                continue;
            }
            return PGQ_IO;
        }
        ERR_clear_error();
        errno = 0;
        rv = SSL_write(s->ssl, buf + off, (int)PGQ_MIN(len - off, (size_t)1 << 30));
        if (rv > 0) {
            off += (size_t)rv;
            continue;
        }
        rv = ssl_wait(s, rv, deadline);
        if (rv != 0) {
            return rv == PGQ_SHUTDOWN ? PGQ_IO : rv;
        }
    }
    return 0;
}

ssize_t tsync_read(struct tsync *s, uint8_t *buf, size_t len, uint64_t deadline)
{
    for (;;) {
        int rv;
        if (s->ssl == NULL) {
            ssize_t n = recv(s->fd, buf, len, 0);
            if (n >= 0) {
                return n;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                rv = tsync_wait(s->fd, POLLIN, deadline);
                if (rv != 0) {
                    return -(ssize_t)rv;
                }
                continue;
            }
            return -(ssize_t)PGQ_IO;
        }
        ERR_clear_error();
        errno = 0;
        rv = SSL_read(s->ssl, buf, (int)PGQ_MIN(len, (size_t)1 << 30));
        if (rv > 0) {
            return rv;
        }
        rv = ssl_wait(s, rv, deadline);
        if (rv == PGQ_SHUTDOWN) {
            return 0;
        }
        if (rv != 0) {
            return -(ssize_t)rv;
        }
    }
}

void tsync_close(struct tsync *s)
{
    if (s->ssl != NULL) {
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    ERR_clear_error();
}
