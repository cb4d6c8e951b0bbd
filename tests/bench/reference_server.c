/*
 * Reference Modbus/TCP server for the meterctl benchmark (tests/bench).
 *
 * Built from libmodbus's own API in the shape of libmodbus's
 * tests/bandwidth-server-many-up.c: one thread, one select() loop over the
 * listening socket and every client socket, modbus_receive() + modbus_reply()
 * against a static modbus_mapping_t. It is the yardstick meterd is compared
 * with, so it deliberately does nothing clever.
 *
 * Usage: reference_server [--port N] [--ready-file FILE]
 *   --port N          TCP port on 127.0.0.1 (default 0 = ephemeral)
 *   --ready-file FILE once listening, write {"modbus": PORT} to FILE
 *                     (atomically, via rename) like meterd --ready-file
 * The bound port is also printed on stdout. SIGTERM or SIGINT ends the server
 * cleanly (exit status 0) after closing every socket.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <modbus.h>

/* Registers 0..9999 (zero-based) of both tables are mapped. */
#define NB_REGISTERS 10000
/* Listen backlog: 100 clients connect at once, so leave room for all of them. */
#define BACKLOG 256

static volatile sig_atomic_t stop_requested = 0;

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fputs("usage: reference_server [--port N] [--ready-file FILE]\n"
          "Serves a static Modbus mapping (holding and input registers 0..9999)\n"
          "on 127.0.0.1 with libmodbus, single-threaded. SIGTERM exits cleanly.\n",
          out);
}

static int parse_port(const char *text, int *port)
{
    char *end = NULL;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 0 || value > 65535) {
        return -1;
    }
    *port = (int)value;
    return 0;
}

/* Writes {"modbus": PORT} to path.tmp and renames it over path, so a reader
 * polling for path never sees a partial file. */
static int write_ready_file(const char *path, int port)
{
    size_t len = strlen(path) + sizeof(".tmp");
    char *tmp = malloc(len);
    FILE *f;
    int ok;

    if (tmp == NULL) {
        return -1;
    }
    snprintf(tmp, len, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        free(tmp);
        return -1;
    }
    ok = fprintf(f, "{\"modbus\": %d}\n", port) > 0;
    ok = (fclose(f) == 0) && ok;
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
    }
    if (!ok) {
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    const char *ready_file = NULL;
    int port = 0;
    modbus_t *ctx;
    modbus_mapping_t *mapping;
    int server_socket;
    struct sockaddr_in bound;
    socklen_t bound_len = sizeof(bound);
    struct sigaction sa;
    sigset_t blocked, run_mask;
    fd_set refset, rdset;
    int fdmax;
    int fd;
    int i;
    int exit_status = EXIT_SUCCESS;
    unsigned long long served = 0, connections = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            if (parse_port(argv[++i], &port) != 0) {
                fprintf(stderr, "reference_server: invalid port '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc) {
            ready_file = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "reference_server: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    /* SIGTERM/SIGINT are blocked except while waiting in pselect(), so a stop
     * request can never slip in between the flag check and the wait. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigprocmask(SIG_BLOCK, &blocked, &run_mask);
    sigdelset(&run_mask, SIGTERM);
    sigdelset(&run_mask, SIGINT);

    ctx = modbus_new_tcp("127.0.0.1", port);
    if (ctx == NULL) {
        fprintf(stderr, "reference_server: modbus_new_tcp: %s\n", modbus_strerror(errno));
        return 1;
    }

    mapping = modbus_mapping_new_start_address(0, 0, 0, 0, 0, NB_REGISTERS, 0, NB_REGISTERS);
    if (mapping == NULL) {
        fprintf(stderr, "reference_server: failed to allocate the mapping: %s\n",
                modbus_strerror(errno));
        modbus_free(ctx);
        return 1;
    }
    /* Static, recognisable contents: register i holds i. */
    for (i = 0; i < NB_REGISTERS; i++) {
        mapping->tab_registers[i] = (uint16_t)i;
        mapping->tab_input_registers[i] = (uint16_t)i;
    }

    server_socket = modbus_tcp_listen(ctx, BACKLOG);
    if (server_socket == -1) {
        fprintf(stderr, "reference_server: unable to listen on 127.0.0.1:%d: %s\n", port,
                modbus_strerror(errno));
        modbus_mapping_free(mapping);
        modbus_free(ctx);
        return 1;
    }
    if (getsockname(server_socket, (struct sockaddr *)&bound, &bound_len) != 0) {
        perror("reference_server: getsockname");
        close(server_socket);
        modbus_mapping_free(mapping);
        modbus_free(ctx);
        return 1;
    }
    port = ntohs(bound.sin_port);
    printf("reference_server: listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    if (ready_file != NULL && write_ready_file(ready_file, port) != 0) {
        fprintf(stderr, "reference_server: cannot write ready file '%s': %s\n", ready_file,
                strerror(errno));
        close(server_socket);
        modbus_mapping_free(mapping);
        modbus_free(ctx);
        return 1;
    }

    FD_ZERO(&refset);
    FD_SET(server_socket, &refset);
    fdmax = server_socket;

    while (!stop_requested) {
        rdset = refset;
        if (pselect(fdmax + 1, &rdset, NULL, NULL, NULL, &run_mask) == -1) {
            if (errno == EINTR) {
                continue;
            }
            perror("reference_server: select");
            exit_status = EXIT_FAILURE;
            break;
        }

        for (fd = 0; fd <= fdmax; fd++) {
            if (!FD_ISSET(fd, &rdset)) {
                continue;
            }

            if (fd == server_socket) {
                int newfd = accept(server_socket, NULL, NULL);
                if (newfd == -1) {
                    perror("reference_server: accept");
                } else if (newfd >= FD_SETSIZE) {
                    fprintf(stderr, "reference_server: socket %d beyond FD_SETSIZE, closed\n",
                            newfd);
                    close(newfd);
                } else {
                    FD_SET(newfd, &refset);
                    if (newfd > fdmax) {
                        fdmax = newfd;
                    }
                    connections++;
                }
            } else {
                int rc;

                modbus_set_socket(ctx, fd);
                rc = modbus_receive(ctx, query);
                if (rc > 0) {
                    modbus_reply(ctx, query, rc, mapping);
                    served++;
                } else if (rc == -1) {
                    /* Peer closed the connection, or sent something unusable. */
                    close(fd);
                    FD_CLR(fd, &refset);
                    while (fdmax > server_socket && !FD_ISSET(fdmax, &refset)) {
                        fdmax--;
                    }
                }
            }
        }
    }

    for (fd = 0; fd <= fdmax; fd++) {
        if (fd != server_socket && FD_ISSET(fd, &refset)) {
            close(fd);
        }
    }
    close(server_socket);
    if (ready_file != NULL) {
        unlink(ready_file);
    }
    modbus_mapping_free(mapping);
    modbus_free(ctx);
    fprintf(stderr, "reference_server: stopped after %llu requests on %llu connections\n", served,
            connections);
    return exit_status;
}
