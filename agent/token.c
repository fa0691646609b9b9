/* token: the SHA-256 of bearer tokens and reading them from files (see
 * token.h). */
#include "token.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

int token_digest(const char *token, uint8_t out[AUTHZ_DIGEST_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(token, strlen(token), out, &n, EVP_sha256(), NULL) != 1 ||
        n != AUTHZ_DIGEST_LEN) {
        return PGQ_INTERNAL;
    }
    return 0;
}

int token_hash_text(const char *token, char *out, size_t size)
{
    uint8_t d[AUTHZ_DIGEST_LEN];
    if (size < 7 + 2 * AUTHZ_DIGEST_LEN + 1 || token_digest(token, d) != 0) {
        return PGQ_INTERNAL;
    }
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < AUTHZ_DIGEST_LEN; i++) {
        snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
    }
    return 0;
}

void token_wipe(void *buf, size_t size)
{
    OPENSSL_cleanse(buf, size);
}

int token_read_stream(void *stream, char *buf, size_t size, char *errmsg, size_t errsize)
{
    FILE *f = stream;
    size_t n;
    if (fgets(buf, (int)size, f) == NULL) {
        snprintf(errmsg, errsize, "no token");
        return PGQ_INVALID;
    }
    n = strcspn(buf, "\r\n");
    if (buf[n] == '\0' && n == size - 1) {
        token_wipe(buf, size);
        snprintf(errmsg, errsize, "the token is longer than %zu bytes", size - 2);
        return PGQ_INVALID;
    }
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
            token_wipe(buf, size);
            snprintf(errmsg, errsize, "the token holds a control character");
            return PGQ_INVALID;
        }
    }
    if (n == 0) {
        snprintf(errmsg, errsize, "the token is empty");
        return PGQ_INVALID;
    }
    return 0;
}

int token_read_file(const char *path, char *buf, size_t size, char *errmsg, size_t errsize)
{
    char why[128];
    int rv;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(errmsg, errsize, "%s: %s", path, strerror(errno));
        return PGQ_IO;
    }
    rv = token_read_stream(f, buf, size, why, sizeof why);
    fclose(f);
    if (rv != 0) {
        snprintf(errmsg, errsize, "%s: %s", path, why);
    }
    return rv;
}
