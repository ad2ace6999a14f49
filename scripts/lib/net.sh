# Sourced by the scripts that start servers on loopback (demo.sh, deploy-check.sh, lib/loopback-stack.sh).
# free_port: prints a TCP port on 127.0.0.1 that nothing listens on now (python3, which every script here needs).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
