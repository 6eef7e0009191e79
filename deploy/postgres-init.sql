-- deploy/compose.yaml: one PostgreSQL server, a database and a role for each node. The two nodes
-- share no database (docs/topologies.md); in production they share no server or operator either.
-- Local passwords for a local deployment: PostgreSQL is not published outside the compose network.
CREATE ROLE node1 LOGIN PASSWORD 'node1-local';
CREATE DATABASE node1 OWNER node1;
REVOKE ALL ON DATABASE node1 FROM PUBLIC;
CREATE ROLE node2 LOGIN PASSWORD 'node2-local';
CREATE DATABASE node2 OWNER node2;
REVOKE ALL ON DATABASE node2 FROM PUBLIC;
