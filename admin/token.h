/* token.h — `wharf token keygen`: a signing key for the token service. */
#ifndef WHARF_ADMIN_TOKEN_H
#define WHARF_ADMIN_TOKEN_H

/* cmd_token_keygen: argv[0] is "keygen". Writes PREFIX.key (PEM private key,
 * 0600), PREFIX.crt (a self-signed certificate of that key, for
 * auth.token.rootcertbundle) and PREFIX.jwks, prints the key id. 0, 1 on
 * failure, 2 on bad usage. */
int cmd_token_keygen(int argc, char **argv);

#endif
