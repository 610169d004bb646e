DROP INDEX generation_jobs_ip_age_idx;
DROP INDEX images_ip_age_idx;
DROP INDEX generation_jobs_created_idx;
DROP INDEX generation_jobs_client_ip_idx;
DROP TRIGGER admin_audit_append_only ON admin_audit;
DROP FUNCTION admin_audit_append_only();
DROP TABLE admin_audit;
