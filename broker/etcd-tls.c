/*
 * The etcd client's credentials (batond(8) "Shared projects"): TLS for
 * https:// endpoints, OpenSSL under libevent's bufferevents (the server
 * verified against --etcd-cacert, or the system's store, and its name
 * or address checked; a client certificate with --etcd-cert and
 * --etcd-key), and the user of etcd's authentication (--etcd-user, the
 * password read from --etcd-password-file, never from the command
 * line).  The files are checked before the broker starts, each with a
 * clear error and a sysexits status; etcd.c asks here for the
 * bufferevent of an https:// connection, for why a handshake failed,
 * and for the user and password it authenticates with.
 */
#include "config.h"

#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "shared.h"

#define ETCD_PASSWORD_MAX 1024 /* bytes of --etcd-password-file */
#define ETCD_USER_MAX 256

#define EX_NOINPUT 66
#define EX_CONFIG 78

static char *cacert, *cert, *key, *user, *password_file;
static char *password;
static SSL_CTX *ctx;
static char tls_why[300]; /* why the last certificate was refused */

/*
 * --etcd-cacert, --etcd-cert, --etcd-key, --etcd-user and
 * --etcd-password-file: 0 (taken), -1 (said why on stderr).
 */
int
etcd_cred_option(const char *name, const char *arg)
{
	char **slot;
	size_t i;

	if (strcmp(name, "etcd-cacert") == 0)
		slot = &cacert;
	else if (strcmp(name, "etcd-cert") == 0)
		slot = &cert;
	else if (strcmp(name, "etcd-key") == 0)
		slot = &key;
	else if (strcmp(name, "etcd-password-file") == 0)
		slot = &password_file;
	else if (strcmp(name, "etcd-user") == 0) {
		for (i = 0; arg[i] != '\0'; i++) {
			if ((unsigned char)arg[i] < 0x20 || arg[i] == 0x7f)
				break;
		}
		if (i == 0 || arg[i] != '\0' || i > ETCD_USER_MAX) {
			fprintf(stderr,
			    "batond: --etcd-user takes an etcd user name, 1 to %d bytes "
			    "without control characters\n",
			    ETCD_USER_MAX);
			return (-1);
		}
		slot = &user;
	} else
		return (-1);
	if (*arg == '\0') {
		fprintf(stderr, "batond: --%s takes a file\n", name);
		return (-1);
	}
	free(*slot);
	*slot = xstrdup(arg);
	return (0);
}

/* The options go together (tls: some endpoint is https://); -1 (said why) when not. */
int
etcd_cred_check(int tls)
{
	if ((cert == NULL) != (key == NULL)) {
		fprintf(stderr, "batond: --etcd-cert and --etcd-key go together\n");
		return (-1);
	}
	if (!tls && (cacert != NULL || cert != NULL)) {
		fprintf(stderr,
		    "batond: --etcd-cacert, --etcd-cert and --etcd-key are for https:// "
		    "endpoints (--etcd)\n");
		return (-1);
	}
	if ((user == NULL) != (password_file == NULL)) {
		fprintf(stderr,
		    "batond: --etcd-user and --etcd-password-file go together (a password "
		    "is never given on the command line)\n");
		return (-1);
	}
	return (0);
}

/*
 * Open file (of option opt) to read: a regular file; a secret one
 * (a key, a password) readable by nobody but its owner.  The
 * descriptor, or -1 with cause and *ex (a sysexits status).
 */
static int
etcd_cred_open(const char *opt, const char *file, int secret, int *ex, char **cause)
{
	struct stat st;
	int fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		xasprintf(cause, "--%s %s: %s", opt, file, strerror(errno));
		*ex = EX_NOINPUT;
		return (-1);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		xasprintf(cause, "--%s %s: not a regular file", opt, file);
		*ex = EX_NOINPUT;
		close(fd);
		return (-1);
	}
	if (secret && (st.st_mode & 077) != 0) {
		xasprintf(cause,
		    "--%s %s: mode %04o lets others at it; it must be readable by its owner "
		    "only (chmod 600 %s)",
		    opt, file, (unsigned)(st.st_mode & 07777), file);
		*ex = EX_CONFIG;
		close(fd);
		return (-1);
	}
	return (fd);
}

/* OpenSSL's last error, as words. */
static const char *
etcd_cred_sslerr(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_last_error();

	ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return (e != 0 ? buf : "unknown error");
}

/* Read the password: the file's first line. */
static int
etcd_cred_password(int *ex, char **cause)
{
	char buf[ETCD_PASSWORD_MAX + 2];
	ssize_t n;
	int fd;

	if ((fd = etcd_cred_open("etcd-password-file", password_file, 1, ex, cause)) == -1)
		return (-1);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0 || n > ETCD_PASSWORD_MAX) {
		explicit_bzero(buf, sizeof buf); /* a password, if too long */
		xasprintf(cause, "--etcd-password-file %s: %s", password_file,
		    n < 0 ? strerror(errno) : "longer than 1024 bytes");
		*ex = n < 0 ? EX_NOINPUT : EX_CONFIG;
		return (-1);
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		xasprintf(cause, "--etcd-password-file %s: no password on its first line",
		    password_file);
		*ex = EX_CONFIG;
		return (-1);
	}
	password = xstrdup(buf);
	explicit_bzero(buf, sizeof buf);
	return (0);
}

/* A certificate the chain did not verify: remember why, for the error. */
static int
etcd_cred_verify_cb(int ok, X509_STORE_CTX *x)
{
	int err = X509_STORE_CTX_get_error(x);

	if (!ok)
		snprintf(tls_why, sizeof tls_why, "the server's certificate is refused: %s%s",
		    X509_verify_cert_error_string(err),
		    err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH
			? ""
			: " (is --etcd-cacert the CA that signed it?)");
	return (ok);
}

/* The client's key, read from the descriptor that was checked. */
static int
etcd_cred_key(int *ex, char **cause)
{
	EVP_PKEY *pk;
	BIO *bio;
	int fd;

	if ((fd = etcd_cred_open("etcd-key", key, 1, ex, cause)) == -1)
		return (-1);
	bio = BIO_new_fd(fd, BIO_CLOSE);
	pk = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (pk == NULL || SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		xasprintf(cause, "--etcd-key %s: %s", key,
		    pk == NULL ? "no PEM private key in it" : etcd_cred_sslerr());
		EVP_PKEY_free(pk);
		*ex = EX_CONFIG;
		return (-1);
	}
	EVP_PKEY_free(pk);
	return (0);
}

/* The TLS context: who is trusted, who we are. */
static int
etcd_cred_ctx(int *ex, char **cause)
{
	int fd;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, etcd_cred_verify_cb);
	if (cacert != NULL) {
		if ((fd = etcd_cred_open("etcd-cacert", cacert, 0, ex, cause)) == -1)
			return (-1);
		close(fd);
		if (SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1) {
			xasprintf(cause, "--etcd-cacert %s: %s", cacert, etcd_cred_sslerr());
			*ex = EX_CONFIG;
			return (-1);
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		log_warnx("etcd: the system's CA store: %s", etcd_cred_sslerr());
	if (cert == NULL)
		return (0);
	if ((fd = etcd_cred_open("etcd-cert", cert, 0, ex, cause)) == -1)
		return (-1);
	close(fd);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		xasprintf(cause, "--etcd-cert %s: %s", cert, etcd_cred_sslerr());
		*ex = EX_CONFIG;
		return (-1);
	}
	return (etcd_cred_key(ex, cause));
}

/*
 * Before the broker starts: read the files the options name and make
 * the TLS context (tls: some endpoint is https://).  0, or a sysexits
 * status with cause.
 */
int
etcd_cred_load(int tls, char **cause)
{
	int ex = 0;

	if (password_file != NULL && password == NULL && etcd_cred_password(&ex, cause) != 0)
		return (ex);
	if (tls && ctx == NULL && etcd_cred_ctx(&ex, cause) != 0) {
		SSL_CTX_free(ctx);
		ctx = NULL;
		return (ex);
	}
	return (0);
}

/* The user etcd's authentication is for, or NULL (none). */
const char *
etcd_cred_user(void)
{
	return (user);
}

const char *
etcd_cred_pass(void)
{
	return (password);
}

/* A bufferevent for a TLS connection to host (checked against the name or address). */
struct bufferevent *
etcd_cred_bev(const char *host)
{
	struct bufferevent *bev;
	unsigned char addr[16];
	SSL *ssl;

	if (ctx == NULL || (ssl = SSL_new(ctx)) == NULL)
		fatalx("etcd: no TLS context");
	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1)
			fatalx("X509_VERIFY_PARAM_set1_ip_asc");
	} else if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1)
		fatalx("SSL_set1_host");
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		fatalx("bufferevent_openssl_socket_new");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return (bev);
}

/*
 * Why the TLS of bev failed, into buf: the certificate refused, or
 * OpenSSL's error (a client certificate etcd wanted, a protocol
 * mismatch); 0 when TLS said nothing.
 */
int
etcd_cred_why(struct bufferevent *bev, char *buf, size_t len)
{
	const char *r;
	unsigned long e;

	if (tls_why[0] != '\0') {
		snprintf(buf, len, "%s", tls_why);
		tls_why[0] = '\0';
		return (1);
	}
	if (bev == NULL || (e = bufferevent_get_openssl_error(bev)) == 0)
		return (0);
	if ((r = ERR_reason_error_string(e)) == NULL)
		r = "error";
	if (strstr(r, "alert") != NULL)
		snprintf(buf, len,
		    "etcd refused the handshake (%s): does it want a client certificate "
		    "(--etcd-cert, --etcd-key) signed by a CA it trusts?",
		    r);
	else
		snprintf(buf, len, "%s", r);
	while (bufferevent_get_openssl_error(bev) != 0)
		;
	return (1);
}
