// The least work a verifying pull-through cache can do for one cold client, with nothing else
// around it: no HTTP library, no scheduler, no database. It answers one client at a time with
// one upstream blob, and in the modes that cache, writes the blob to a spool file as it goes.
// Measured beside the direct GET and beside Portcullis, it says how much of a cold pull's speed
// on this machine is the work itself (bench/RESULTS.md, issue 28).
//
//   cc -O2 -pthread -o ideal-tee ideal-tee.c -lcrypto
//   ideal-tee PORT UPSTREAM_PORT UPSTREAM_PATH SPOOL_DIR MODE [AUTHORIZATION]
//
// Every request but `GET /healthz` (answered 200, empty) is answered with UPSTREAM_PATH from
// the upstream at 127.0.0.1:UPSTREAM_PORT, sent with the Authorization header given, if any.
// The bench's cold phase runs it in mode spool2 beside Portcullis and distribution when a C
// compiler and OpenSSL's headers are there (bench/harness/services.py, IdealTee).
//
// MODE:
//   relay       recv, send: a proxy that neither verifies nor caches
//   hash        recv, SHA-256, send: verifies, does not cache
//   spoolonly   recv, pwrite to the spool, sendfile from it: caches, does not verify
//   spool       recv, SHA-256, pwrite to the spool, sendfile from it: one thread
//   spool2      the same with SHA-256 on a second thread, batches handed over in a ring:
//               the ideal two-core layout (the last batch is held until the digest is done)
//
// Nothing of Portcullis is in here; it is an experiment, not part of the build or the tests.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH (1 << 20)
#define RING 4

static void die(const char *what) { perror(what); exit(1); }

static void send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) die("send");
        p += w; n -= (size_t)w;
    }
}

static void sendfile_all(int out, int in, off_t offset, size_t n) {
    while (n > 0) {
        ssize_t w = sendfile(out, in, &offset, n);
        if (w <= 0) die("sendfile");
        n -= (size_t)w;
    }
}

static void pwrite_all(int fd, const char *p, size_t n, off_t at) {
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, at);
        if (w <= 0) die("pwrite");
        p += w; n -= (size_t)w; at += w;
    }
}

// Fills buf with up to `want` bytes (fewer only at the end of the stream).
static size_t recv_batch(int fd, char *buf, size_t want) {
    size_t got = 0;
    while (got < want) {
        ssize_t r = recv(fd, buf + got, want - got, 0);
        if (r < 0) die("recv");
        if (r == 0) break;
        got += (size_t)r;
    }
    return got;
}

// Sends the GET, reads the response head, returns the body's length; bytes of the body that
// came with the head are left in *pre / *pre_len.
static long long open_upstream(int port, const char *path, const char *auth, int *out_fd, char *pre, size_t *pre_len) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect upstream");
    char req[8192];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%sConnection: close\r\n\r\n",
                     path, auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
    send_all(fd, req, (size_t)n);
    char head[8192];
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        ssize_t r = recv(fd, head + have, sizeof head - have - 1, 0);
        if (r <= 0) die("upstream head");
        have += (size_t)r;
        head[have] = 0;
        end = strstr(head, "\r\n\r\n");
    }
    if (strncmp(head, "HTTP/1.1 200", 12) != 0) { fprintf(stderr, "upstream: %.40s\n", head); exit(1); }
    char *cl = strcasestr(head, "content-length:");
    if (!cl) { fprintf(stderr, "no content-length\n"); exit(1); }
    long long length = atoll(cl + 15);
    size_t head_len = (size_t)(end + 4 - head);
    *pre_len = have - head_len;
    memcpy(pre, end + 4, *pre_len);
    *out_fd = fd;
    return length;
}

struct ring {
    char *buf[RING];
    size_t len[RING];
    int filled[RING];          // 1: received, waiting for the hash
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;                  // receiver has handed over its last batch
    EVP_MD_CTX *sha;
};

static void *hasher(void *arg) {
    struct ring *r = arg;
    for (int i = 0;; i = (i + 1) % RING) {
        pthread_mutex_lock(&r->mu);
        while (!r->filled[i] && !r->done) pthread_cond_wait(&r->cv, &r->mu);
        if (!r->filled[i]) { pthread_mutex_unlock(&r->mu); return NULL; }
        pthread_mutex_unlock(&r->mu);
        EVP_DigestUpdate(r->sha, r->buf[i], r->len[i]);
        pthread_mutex_lock(&r->mu);
        r->filled[i] = 0;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
}

static void serve(int client, int up_port, const char *path, const char *spool_dir, const char *mode, const char *auth) {
    char req[8192];
    if (recv(client, req, sizeof req, 0) <= 0) return;
    if (strncmp(req, "GET /healthz ", 13) == 0) {
        const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        send_all(client, ok, strlen(ok));
        return;
    }
    int up;
    static char pre[8192];
    size_t pre_len;
    long long length = open_upstream(up_port, path, auth, &up, pre, &pre_len);
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\nConnection: close\r\n\r\n", length);
    send_all(client, head, (size_t)n);

    int spool = -1;
    char spool_path[4096];
    if (strncmp(mode, "spool", 5) == 0) {
        snprintf(spool_path, sizeof spool_path, "%s/spool-XXXXXX", spool_dir);
        spool = mkstemp(spool_path);
        if (spool < 0) die("spool");
    }
    unsigned char digest[32];
    unsigned int digest_len;
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(sha, EVP_sha256(), NULL);

    if (strcmp(mode, "spool2") != 0) {
        char *buf = aligned_alloc(4096, BATCH);
        memcpy(buf, pre, pre_len);
        size_t first = pre_len;
        off_t at = 0;
        for (;;) {
            size_t got = first + recv_batch(up, buf + first, BATCH - first);
            first = 0;
            if (got == 0) break;
            if (strcmp(mode, "relay") != 0 && strcmp(mode, "spoolonly") != 0) EVP_DigestUpdate(sha, buf, got);
            if (spool >= 0) {
                pwrite_all(spool, buf, got, at);
                sendfile_all(client, spool, at, got);
            } else {
                send_all(client, buf, got);
            }
            at += (off_t)got;
        }
        free(buf);
    } else {
        // Two threads: this one receives, spools and sends; the hasher hashes behind it. Each
        // batch is sent once it is in the spool, except the last, which waits for the digest.
        struct ring r = {.sha = sha};
        pthread_mutex_init(&r.mu, NULL);
        pthread_cond_init(&r.cv, NULL);
        for (int i = 0; i < RING; i++) r.buf[i] = aligned_alloc(4096, BATCH);
        pthread_t t;
        pthread_create(&t, NULL, hasher, &r);
        off_t at = 0;
        size_t held = 0;       // bytes of the newest batch, not sent yet
        off_t held_at = 0;
        size_t first = pre_len;
        memcpy(r.buf[0], pre, pre_len);
        for (int i = 0;; i = (i + 1) % RING) {
            pthread_mutex_lock(&r.mu);
            while (r.filled[i]) pthread_cond_wait(&r.cv, &r.mu);
            pthread_mutex_unlock(&r.mu);
            size_t got = first + recv_batch(up, r.buf[i] + first, BATCH - first);
            first = 0;
            if (got == 0) break;
            pwrite_all(spool, r.buf[i], got, at);
            pthread_mutex_lock(&r.mu);
            r.len[i] = got;
            r.filled[i] = 1;
            pthread_cond_broadcast(&r.cv);
            pthread_mutex_unlock(&r.mu);
            if (held) sendfile_all(client, spool, held_at, held);
            held = got;
            held_at = at;
            at += (off_t)got;
        }
        pthread_mutex_lock(&r.mu);
        r.done = 1;
        pthread_cond_broadcast(&r.cv);
        pthread_mutex_unlock(&r.mu);
        pthread_join(t, NULL);
        if (held) sendfile_all(client, spool, held_at, held);
        for (int i = 0; i < RING; i++) free(r.buf[i]);
    }
    EVP_DigestFinal_ex(sha, digest, &digest_len);
    EVP_MD_CTX_free(sha);
    if (strcmp(mode, "relay") != 0 && strcmp(mode, "spoolonly") != 0) {
        fprintf(stderr, "sha256:");
        for (unsigned i = 0; i < digest_len; i++) fprintf(stderr, "%02x", digest[i]);
        fprintf(stderr, "\n");
    }
    // Kept, as a cache keeps what it fetched: the harness removes it when it restarts the tee, as
    // it wipes Portcullis's data directory. Freeing it here would hand the next run page-cache
    // pages the host had not taken back yet, which on these VMs are several times cheaper to
    // write than pages that sat free (bench/RESULTS.md), and the comparison would be unfair.
    if (spool >= 0) close(spool);
    close(up);
}

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) { fprintf(stderr, "usage: ideal-tee PORT UPSTREAM_PORT PATH SPOOL_DIR MODE [AUTHORIZATION]\n"); return 2; }
    int port = atoi(argv[1]), up_port = atoi(argv[2]);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) die("bind");
    listen(s, 16);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) die("accept");
        serve(c, up_port, argv[3], argv[4], argv[5], argc == 7 ? argv[6] : NULL);
        close(c);
    }
}
