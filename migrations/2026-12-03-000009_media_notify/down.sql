DROP TRIGGER images_notify_media ON images;
DROP FUNCTION atelier_notify_image();
