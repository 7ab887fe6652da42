<?php
/**
 * Plugin Name: sgtm-companion checkout context
 * Description: Carries the browser's GA/Meta ids and consent into WooCommerce orders and posts
 *              them to the sidecar (examples/snippets/README.md). Drop into wp-content/mu-plugins/.
 *
 * SGTM_ENDPOINT, SGTM_TOKEN_KID and SGTM_TOKEN_KEY (base64, the key of WEB_TOKEN_KEYS) are
 * defined in wp-config.php from the environment; never commit them.
 */

// 1. At checkout: copy the ids the browser holds into the order's meta data. This is the
//    webhook's fallback when no context was posted in time.
add_action('woocommerce_checkout_create_order', function (WC_Order $order) {
    $cookie = function (string $name): string {
        return isset($_COOKIE[$name]) ? sanitize_text_field(wp_unslash($_COOKIE[$name])) : '';
    };
    $meta = [
        '_sgtm_client_id' => $cookie('_ga'),  // the sidecar takes the id out of the cookie value
        '_sgtm_fbp'       => $cookie('_fbp'),
        '_sgtm_fbc'       => $cookie('_fbc'),
        // Written by the page from sgtmContext.attributes() into a hidden checkout field:
        '_sgtm_session_id' => isset($_POST['sgtm_session_id']) ? sanitize_text_field(wp_unslash($_POST['sgtm_session_id'])) : '',
        '_sgtm_consent'    => isset($_POST['sgtm_consent']) ? sanitize_text_field(wp_unslash($_POST['sgtm_consent'])) : '',
    ];
    foreach ($meta as $key => $value) {
        if ($value !== '') {
            $order->update_meta_data($key, $value);
        }
    }
});

// A short-lived browser token in the format sgtm token issues (docs/architecture.md).
function sgtm_browser_token(int $ttl = 900): string {
    $b64url = function (string $bytes): string {
        return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
    };
    $now = time();
    $origin = strtolower(rtrim(home_url(), '/'));
    $payload = $b64url(wp_json_encode(['exp' => $now + $ttl, 'iat' => $now, 'origin' => $origin], JSON_UNESCAPED_SLASHES));
    $kid = SGTM_TOKEN_KID;
    $mac = hash_hmac('sha256', "v1.$kid.$payload", base64_decode(SGTM_TOKEN_KEY), true);
    return "v1.$kid.$payload." . $b64url($mac);
}

add_action('wp_enqueue_scripts', function () {
    wp_enqueue_script('sgtm-context', plugins_url('context.js', __FILE__), [], null, true);
});

// 2. On the thank-you page the order key is known: post the context under it.
add_action('woocommerce_thankyou', function ($order_id) {
    $order = wc_get_order($order_id);
    if (!$order) {
        return;
    }
    printf(
        '<script>window.sgtmContext && window.sgtmContext.post(%s, %s);</script>',
        wp_json_encode($order->get_order_key()),
        wp_json_encode(sgtm_browser_token())
    );
});
