DROP TRIGGER images_count_in_folders ON images;
DROP FUNCTION atelier_count_folder_images();
ALTER TABLE folders DROP COLUMN disk_bytes, DROP COLUMN image_count;
