DROP INDEX audit_events_target;
DROP TABLE api_key_clients;
DROP TABLE agents;
