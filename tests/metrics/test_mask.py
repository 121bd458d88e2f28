import torch

from vokit.metrics.mask import mask_iou


def test_mask_iou_by_hand() -> None:
    pred = [torch.tensor([[0.9, 0.6, 0.1], [0.2, 0.5, 0.7]]), torch.zeros(2, 3)]
    gt = [torch.tensor([[True, False, False], [True, False, True]]), torch.zeros(2, 3, dtype=torch.bool)]
    # Image 0: predicted {00, 01, 12}, truth {00, 10, 12}: intersection 2, union 4. Image 1 is empty.
    result = mask_iou(pred, gt)
    assert result == {"iou_pooled": 0.5, "iou_image_mean": 0.5, "n_images": 1, "threshold": 0.5}
    assert mask_iou([torch.zeros(2, 2)], [torch.zeros(2, 2, dtype=torch.bool)])["iou_pooled"] is None
    soft = [torch.tensor([[0.4, 0.8]])]
    assert mask_iou(soft, [torch.tensor([[True, True]])], threshold=0.3)["iou_pooled"] == 1.0
